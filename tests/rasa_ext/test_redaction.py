"""What Rasa's tracker store keeps of a binding conversation (pure functions; the real store is
exercised through a real Rasa server in tests/e2e/test_privacy.py)."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from rasa_ext.redaction import HIDDEN, redact_events

PHONE, ID6, CODE = "13912345678", "01123X", "482913"


def user(text: str, entities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "event": "user", "text": text, "timestamp": 1.0,
        "parse_data": {"text": text, "intent": {"name": "inform", "confidence": 0.9}, "entities": entities or []},
    }


def slot(name: str, value: Any) -> dict[str, Any]:
    return {"event": "slot", "name": name, "value": value, "timestamp": 1.0}


BINDING = [
    user("我要绑定账户"),
    slot("requested_slot", "phone"),
    user(PHONE, [{"entity": "phone", "value": PHONE, "start": 0, "end": 11}]),
    slot("phone", PHONE),
    slot("phone", "sealed:gAAAAABn0123456789"),
    slot("requested_slot", "id_last6"),
    user(f"身份证后六位{ID6}"),
    slot("id_last6", ID6),
    slot("phone", "已提交"),
    slot("id_last6", "已提交"),
    slot("requested_slot", "otp_code"),
    user(CODE),
    slot("otp_code", CODE),
    slot("otp_code", "已提交"),
    slot("requested_slot", None),
    user("我的余额是多少，存了 100000 元"),
]


def test_no_secret_survives_a_binding_conversation() -> None:
    stored = json.dumps(redact_events(BINDING), ensure_ascii=False)
    for secret in (PHONE, ID6, CODE, PHONE[-4:] + PHONE[:3]):
        assert secret not in stored


def test_answers_to_secret_questions_are_hidden_whole_but_keep_their_intent() -> None:
    out = redact_events(BINDING)
    phone_turn = out[2]
    assert phone_turn["text"] == HIDDEN and phone_turn["parse_data"]["text"] == HIDDEN
    assert phone_turn["parse_data"]["intent"]["name"] == "inform"
    assert phone_turn["parse_data"]["entities"][0] == {"entity": "phone", "value": HIDDEN, "start": 0, "end": 11}
    assert out[6]["text"] == HIDDEN and out[11]["text"] == HIDDEN


def test_ordinary_messages_keep_their_words_and_placeholders_and_seals_stay() -> None:
    out = redact_events(BINDING)
    assert out[0]["text"] == "我要绑定账户"
    assert out[-1]["text"] == "我的余额是多少，存了 100000 元"  # amounts are not identifiers
    assert out[4]["value"] == "sealed:gAAAAABn0123456789"
    assert out[8]["value"] == "已提交" and out[3]["value"] == HIDDEN


def test_numbers_in_free_text_are_masked_outside_the_form() -> None:
    out = redact_events([user(f"我手机号{PHONE}，卡号6217991234567890123丢了")])
    assert out[0]["text"] == "我手机号139****5678，卡号尾号0123丢了"


def test_the_form_context_can_start_before_the_events() -> None:
    # The SQL store redacts only the events it has not stored yet; the form state comes from before.
    assert redact_events([user(CODE)], requested="otp_code")[0]["text"] == HIDDEN
    # Outside the form a bare code is masked as in stored transcripts (******), not hidden whole.
    assert redact_events([user(CODE)])[0]["text"] == "******"
    assert redact_events([{"event": "restart"}, user(CODE)], requested="otp_code")[1]["text"] == "******"


def test_input_is_not_modified() -> None:
    events = [user(PHONE)]
    redact_events(events, requested="phone")
    assert events[0]["text"] == PHONE


@given(st.lists(st.one_of(st.builds(user, st.text(max_size=30)), st.builds(slot, st.sampled_from(
    ["phone", "id_last6", "otp_code", "requested_slot", "town"]), st.one_of(st.none(), st.text(max_size=20))))))
def test_redaction_is_idempotent(events: list[dict[str, Any]]) -> None:
    once = redact_events(events)
    assert redact_events(once) == once


def test_formats_customers_type_are_masked_in_the_tracker_too() -> None:
    # Issue #19: dots, spaces and Chinese digits got past the old patterns.
    out = redact_events([user("手机 170.0015.0003，身份证后六位 2135 11，验证码 四九三 四三三")])
    assert out[0]["text"] == "手机 170****0003，身份证后六位 ******，验证码 ******"


def test_the_client_address_is_not_kept_in_the_store() -> None:
    event = {**user("绑定账户"), "metadata": {"channel": "web", "client_address": "203.0.113.7"}}
    assert redact_events([event])[0]["metadata"] == {"channel": "web"}


def test_free_text_slots_keep_their_words_with_numbers_masked() -> None:
    out = redact_events([slot("complaint_text", "网点排队太久，请打我电话 139 1234 5678"), slot("town", "王集镇")])
    assert out[0]["value"] == "网点排队太久，请打我电话 139****5678" and out[1]["value"] == "王集镇"


def test_entities_inside_a_masked_number_lose_their_digits() -> None:
    # Second probe of #19: Rasa split an ID and a card number into card_tail entities of four digits
    # each; the text was masked, the entities kept the whole number between them.
    text = "身份证 4101 2319 8001 0121 35，卡号 6217 0000 1234 5678 901，存了 5000 元"
    groups = [(m.start(), m.end()) for m in re.finditer(r"\d+", text)]
    entities = [{"entity": "card_tail", "value": text[s:e], "start": s, "end": e} for s, e in groups]
    out = redact_events([user(text, entities)])[0]
    stored = json.dumps(out, ensure_ascii=False)
    for digits in ("4101", "2319", "8001", "0121", "6217", "1234"):  # 尾号8901 is the mask itself
        assert digits not in stored
    kept = out["parse_data"]["entities"]
    assert [e["value"] for e in kept[:10]] == [HIDDEN] * 10 and kept[-1]["value"] == "5000"  # the amount stays
    assert kept[0]["entity"] == "card_tail" and (kept[0]["start"], kept[0]["end"]) == (4, 8)
    assert redact_events([out]) == [out]


def test_a_code_typed_outside_the_form_is_hidden_as_in_transcripts() -> None:
    from core.masking import redact_customer_text

    for typed_text in ("493433", "493 433。", "四九三四三三", "码是493433", "我家座机0371-63456789"):
        event = {"event": "user", "text": typed_text, "parse_data": {"text": typed_text, "entities": []}}
        stored = redact_events([event])[0]
        assert stored["text"] == redact_customer_text(typed_text) != typed_text
        assert stored["parse_data"]["text"] == stored["text"]
    amount = {"event": "user", "text": "我要转200000", "parse_data": {"text": "我要转200000", "entities": [
        {"entity": "amount", "start": 3, "end": 9, "value": "200000"}]}}
    assert redact_events([amount])[0]["parse_data"]["entities"][0]["value"] == "200000"
    lone = {"event": "user", "text": "493433", "parse_data": {"text": "493433", "entities": [
        {"entity": "otp_code", "start": 0, "end": 6, "value": "493433"}]}}
    assert "493433" not in str(redact_events([lone]))
