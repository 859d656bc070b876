"""Binding form through the webhook: phone → ID last 6 → SMS code, lock-out, expiry, privacy."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from actions.binding import SENT
from crm.access.identity import find_verified
from crm.demo.catalogue import PERSONAS
from crm.models import BindingChallenge, SmsOutbox
from tests.actions.conftest import slot_events, texts, tracker
from tests.actions.responses import response_text

ZHAOLI = next(p for p in PERSONAS if p.key == "zhaoli")
FORM = "bind_account_form"
SENDER = "web:test-zhaoli"


async def _send_details(webhook: Any, sender: str, phone: str, id6: str) -> dict[str, Any]:
    r1 = await webhook(
        "validate_bind_account_form",
        tracker(sender, phone, "inform", slots={"phone": phone, "requested_slot": "phone"}, active_loop=FORM),
    )
    sealed = slot_events(r1)["phone"]
    # The phone waits in its slot encrypted: Rasa's tracker store never sees the digits.
    assert sealed.startswith("sealed:") and phone not in sealed and not re.search(r"1[3-9]\d{9}", sealed)
    return await webhook(
        "validate_bind_account_form",
        tracker(
            sender,
            id6,
            "inform",
            slots={"phone": sealed, "id_last6": id6, "requested_slot": "id_last6"},
            active_loop=FORM,
        ),
    )


def _code(db: Session, phone: str) -> str | None:
    db.expire_all()
    text = db.scalar(select(SmsOutbox.text).where(SmsOutbox.phone == phone).order_by(SmsOutbox.id.desc()))
    found = re.search(r"\d{6}", text or "")
    return found.group(0) if found else None


async def _otp(webhook: Any, sender: str, code: str) -> dict[str, Any]:
    return await webhook(
        "validate_bind_account_form",
        tracker(
            sender,
            code,
            "inform",
            slots={"phone": SENT, "id_last6": SENT, "otp_code": code, "requested_slot": "otp_code"},
            active_loop=FORM,
        ),
    )


async def test_binding_happy_path(webhook: Any, db: Session) -> None:
    r = await _send_details(webhook, SENDER, ZHAOLI.phone, ZHAOLI.id_number[-6:])
    slots = slot_events(r)
    # After the code is requested the slots hold placeholders only, never the digits.
    assert slots["phone"] == SENT and slots["id_last6"] == SENT
    assert ZHAOLI.phone not in str(r) and ZHAOLI.id_number[-6:] not in str(r)
    code = _code(db, ZHAOLI.phone)
    assert code is not None
    r = await _otp(webhook, SENDER, code)
    assert slot_events(r)["flow_status"] == "verified"
    db.expire_all()
    assert find_verified(db, "web", "test-zhaoli") is not None
    submit = await webhook(
        "action_submit_bind",
        tracker(SENDER, code, "inform", slots={"flow_status": "verified", "phone": SENT}),
    )
    assert texts(submit) == [response_text("utter_bind_success", salutation="赵女士")]
    cleared = slot_events(submit)
    assert all(cleared[name] is None for name in ("phone", "id_last6", "otp_code", "flow_status"))


async def test_wrong_details_get_the_same_reply_and_no_sms(webhook: Any, db: Session) -> None:
    right = await _send_details(webhook, "web:a", ZHAOLI.phone, ZHAOLI.id_number[-6:])
    wrong = await _send_details(webhook, "web:b", "13900000000", "123456")
    assert texts(right) == texts(wrong)
    assert slot_events(right) == slot_events(wrong)
    db.expire_all()
    assert db.scalar(select(SmsOutbox.id).where(SmsOutbox.phone == "13900000000")) is None
    # Whatever code the stranger tries, it is wrong (no customer behind the challenge).
    r = await _otp(webhook, "web:b", "000000")
    assert texts(r) == [response_text("utter_bind_wrong_code")]


async def test_five_wrong_codes_lock_binding(webhook: Any, db: Session) -> None:
    await _send_details(webhook, SENDER, ZHAOLI.phone, ZHAOLI.id_number[-6:])
    right = _code(db, ZHAOLI.phone)
    wrong = "111111" if right != "111111" else "222222"
    for _ in range(4):
        r = await _otp(webhook, SENDER, wrong)
        assert texts(r) == [response_text("utter_bind_wrong_code")]
    r = await _otp(webhook, SENDER, wrong)
    assert slot_events(r)["flow_status"] == "locked"
    assert slot_events(r)["requested_slot"] is None  # the form ends
    # Even the right code no longer works, and starting again is refused for now.
    again = await _send_details(webhook, SENDER, ZHAOLI.phone, ZHAOLI.id_number[-6:])
    assert slot_events(again)["flow_status"] == "locked"
    submit = await webhook("action_submit_bind", tracker(SENDER, "x", "inform", slots={"flow_status": "locked"}))
    assert texts(submit) == [response_text("utter_bind_locked")]
    db.expire_all()
    assert find_verified(db, "web", "test-zhaoli") is None


async def test_expired_code(webhook: Any, db: Session) -> None:
    await _send_details(webhook, SENDER, ZHAOLI.phone, ZHAOLI.id_number[-6:])
    code = _code(db, ZHAOLI.phone)
    assert code is not None
    db.execute(update(BindingChallenge).values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
    db.commit()
    r = await _otp(webhook, SENDER, code)
    assert slot_events(r)["flow_status"] == "expired"
    submit = await webhook("action_submit_bind", tracker(SENDER, code, "inform", slots={"flow_status": "expired"}))
    assert texts(submit) == [response_text("utter_bind_expired")]


async def test_bad_phone_is_asked_again(webhook: Any) -> None:
    r = await webhook(
        "validate_bind_account_form",
        tracker(SENDER, "12345", "inform", slots={"phone": "12345", "requested_slot": "phone"}, active_loop=FORM),
    )
    assert slot_events(r)["phone"] is None
    assert "11位" in texts(r)[0]


async def test_already_bound_skips_the_form(webhook: Any) -> None:
    r = await webhook(
        "validate_bind_account_form",
        tracker("web:demo-zhangjianhua", "绑定账户", "bind_account", active_loop=FORM),
    )
    assert slot_events(r)["requested_slot"] is None
    submit = await webhook("action_submit_bind", tracker("web:demo-zhangjianhua", "绑定账户", "bind_account"))
    assert texts(submit) == [response_text("utter_bind_already")]


async def test_a_phone_sealed_under_another_key_is_asked_again(webhook: Any, db: Session) -> None:
    from actions.sealed import seal

    # Another key: SESSION_SECRET rotated while the form was open (expiry works the same way).
    for stale in (seal(ZHAOLI.phone, "some-other-secret"),):
        r = await webhook(
            "validate_bind_account_form",
            tracker(
                SENDER,
                ZHAOLI.id_number[-6:],
                "inform",
                slots={"phone": stale, "id_last6": ZHAOLI.id_number[-6:], "requested_slot": "id_last6"},
                active_loop=FORM,
            ),
        )
        assert slot_events(r)["phone"] is None and slot_events(r)["id_last6"] is None
        assert any("手机号" in t for t in texts(r))
    assert _code(db, ZHAOLI.phone) is None  # no code went out


# --- issue #19: placeholders, formats, and "code sent" only when it was -------------------------


async def test_the_placeholder_typed_as_phone_or_id_is_asked_again(webhook: Any, db: Session) -> None:
    r = await webhook(
        "validate_bind_account_form",
        tracker(SENDER, SENT, "inform", slots={"phone": SENT, "requested_slot": "phone"}, active_loop=FORM),
    )
    assert slot_events(r)["phone"] is None and "11位" in texts(r)[0]
    sealed = slot_events(
        await webhook(
            "validate_bind_account_form",
            tracker(
                SENDER,
                ZHAOLI.phone,
                "inform",
                slots={"phone": ZHAOLI.phone, "requested_slot": "phone"},
                active_loop=FORM,
            ),
        )
    )["phone"]
    r = await webhook(
        "validate_bind_account_form",
        tracker(SENDER, SENT, "inform", slots={"phone": sealed, "id_last6": SENT, "requested_slot": "id_last6"},
                active_loop=FORM),
    )  # fmt: skip
    assert slot_events(r)["id_last6"] is None and "最后6位" in texts(r)[0]
    assert _code(db, ZHAOLI.phone) is None  # nothing was sent, so nothing may say it was


async def test_words_are_not_a_phone_number(webhook: Any) -> None:
    for words in ("不知道", "我的手机号", "一会儿再说"):
        r = await webhook(
            "validate_bind_account_form",
            tracker(SENDER, words, "inform", slots={"phone": words, "requested_slot": "phone"}, active_loop=FORM),
        )
        assert slot_events(r)["phone"] is None


def _spelled(phone: str) -> str:
    chinese = dict(zip("0123456789", "零一二三四五六七八九", strict=True))
    return " ".join("".join(chinese[d] for d in part) for part in (phone[:3], phone[3:7], phone[7:]))


async def test_numbers_in_the_formats_customers_type_are_understood(webhook: Any, db: Session) -> None:
    dotted = f"{ZHAOLI.phone[:3]}.{ZHAOLI.phone[3:7]}.{ZHAOLI.phone[7:]}"
    for typed_phone in (dotted, _spelled(ZHAOLI.phone)):
        r = await webhook(
            "validate_bind_account_form",
            tracker(SENDER, typed_phone, "inform", slots={"phone": typed_phone, "requested_slot": "phone"},
                    active_loop=FORM),
        )  # fmt: skip
        assert unseal(slot_events(r)["phone"]) == ZHAOLI.phone
    tail = ZHAOLI.id_number[-6:]
    r = await _send_details(webhook, SENDER, dotted, f"身份证后六位 {tail[:4]} {tail[4:]}")
    assert slot_events(r)["id_last6"] == SENT and _code(db, ZHAOLI.phone) is not None


async def test_a_refused_code_is_not_announced_as_sent(webhook: Any, db: Session) -> None:
    first = await _send_details(webhook, "web:visitor-1", ZHAOLI.phone, ZHAOLI.id_number[-6:])
    assert slot_events(first)["id_last6"] == SENT
    # A fresh web visitor (a new identity is one POST /api/session away) asks for the same phone.
    second = await _send_details(webhook, "web:visitor-2", ZHAOLI.phone, ZHAOLI.id_number[-6:])
    slots = slot_events(second)
    assert slots["flow_status"] == "throttled" and slots["phone"] is None and slots["id_last6"] is None
    (said,) = texts(second)
    assert re.fullmatch(r"验证码发送太频繁了，请 \d+ 秒后再试。", said), said
    db.expire_all()
    assert len(db.scalars(select(SmsOutbox.id).where(SmsOutbox.phone == ZHAOLI.phone)).all()) == 1
    # The form ends without asking for a code (required_slots is empty) and submit adds nothing.
    submit = await webhook(
        "action_submit_bind", tracker("web:visitor-2", "x", "inform", slots={"flow_status": "throttled"})
    )
    assert texts(submit) == []


async def test_the_client_address_from_the_gateway_is_limited_too(webhook: Any, db: Session, monkeypatch: Any) -> None:
    import actions.context

    monkeypatch.setenv("OTP_LIMIT_ADDRESS", "0/1/10")
    actions.context._settings.cache_clear()
    meta = {"client_address": "203.0.113.7"}

    async def ask(sender: str, phone: str) -> dict[str, Any]:
        sealed = seal(phone)
        return await webhook(
            "validate_bind_account_form",
            tracker(sender, "123456", "inform", slots={"phone": sealed, "id_last6": "123456",
                    "requested_slot": "id_last6"}, active_loop=FORM, metadata=meta),
        )  # fmt: skip

    assert slot_events(await ask("web:n1", "17000150001"))["id_last6"] == SENT
    refused = await ask("web:n2", "17000150002")
    assert slot_events(refused)["flow_status"] == "throttled"
    assert "分钟后再试" in texts(refused)[0]


def seal(phone: str) -> str:
    from actions.context import settings
    from actions.sealed import seal as seal_with

    return seal_with(phone, settings().session_secret)


def unseal(value: str) -> str | None:
    from actions.context import settings
    from actions.sealed import unseal as unseal_with

    return unseal_with(value, settings().session_secret)


async def test_the_action_server_shows_the_otp_counters(webhook: Any) -> None:
    from rasa_sdk.endpoint import create_app
    from rasa_sdk.executor import ActionExecutor
    from sanic import Sanic

    from actions.__main__ import serve_metrics

    await _send_details(webhook, "web:m1", ZHAOLI.phone, ZHAOLI.id_number[-6:])
    await _send_details(webhook, "web:m2", ZHAOLI.phone, ZHAOLI.id_number[-6:])  # refused: one a minute
    Sanic.test_mode = True
    app = create_app(ActionExecutor())
    serve_metrics(app)
    _, resp = await app.asgi_client.get("/metrics")
    assert resp.status == 200
    assert 'bankcare_otp_requests_total{outcome="sent"}' in resp.text
    assert 'bankcare_otp_refusals_total{limit="gap",scope="phone"}' in resp.text
