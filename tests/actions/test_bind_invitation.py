"""The invitation to bind answered with "好的" or with the mobile number itself starts binding."""

from __future__ import annotations

import re
from typing import Any

from actions.binding import FORM
from crm.demo.catalogue import PERSONAS
from tests.actions.conftest import slot_events, texts, tracker, user_event
from tests.actions.responses import response_text

ZHAOLI = next(p for p in PERSONAS if p.key == "zhaoli")
SENDER = "web:test-invitation"


def _bot(response: str) -> dict[str, Any]:
    return {"event": "bot", "text": response_text(response), "metadata": {"utter_action": response}, "data": {}}


def _after(*responses: str, asked: str = "俺卡里还剩多少钱", intent: str = "check_balance") -> list[dict[str, Any]]:
    """Earlier events: the customer's question, then the bot's replies to it."""
    return [user_event(asked, intent), *(_bot(r) for r in responses)]


def _followup(result: dict[str, Any]) -> str | None:
    return next((e["name"] for e in result["events"] if e.get("event") == "followup"), None)


async def test_affirm_after_the_invitation_starts_binding(webhook: Any) -> None:
    for invitation in ("utter_bind_invitation", "utter_loss_needs_binding", "utter_wealth_needs_binding"):
        r = await webhook("action_affirm", tracker(SENDER, "好的", "affirm", events=_after(invitation)))
        assert _followup(r) == FORM, invitation
        assert texts(r) == []  # the form asks for the phone itself


async def test_affirm_with_nothing_pending_is_anything_else(webhook: Any) -> None:
    cases = [
        [],  # first message
        _after("utter_greet", asked="你好", intent="greet"),
        # "您还没有绑定账户，我们不会给您推送…" then "好的" is an acknowledgement, not a wish to bind.
        _after("utter_unsubscribe_not_bound", asked="退订", intent="unsubscribe"),
        # The invitation was a turn earlier: the customer has said something else since.
        [*_after("utter_bind_invitation"), user_event("你好", "greet"), _bot("utter_greet")],
    ]
    for events in cases:
        r = await webhook("action_affirm", tracker(SENDER, "行", "affirm", events=events))
        assert _followup(r) is None
        assert texts(r) == [response_text("utter_anything_else")]


async def test_phone_after_the_invitation_starts_binding_with_it(webhook: Any) -> None:
    r = await webhook(
        "action_inform", tracker(SENDER, ZHAOLI.phone, "inform", events=_after("utter_bind_invitation"))
    )
    assert _followup(r) == FORM and texts(r) == []
    sealed = slot_events(r)["phone"]
    # The number waits sealed, as inside the form: the tracker store never sees the digits.
    assert sealed.startswith("sealed:") and ZHAOLI.phone not in str(r) and not re.search(r"1[3-9]\d{9}", sealed)
    # The form, activated with the phone already filled, keeps it and goes on to the ID digits.
    v = await webhook(
        "validate_bind_account_form",
        tracker(SENDER, ZHAOLI.phone, "inform", slots={"phone": sealed}, active_loop=FORM),
    )
    assert slot_events(v)["phone"] == sealed
    assert texts(v) == []  # no "手机号格式不对"


async def test_phone_while_the_bot_waits_for_one(webhook: Any) -> None:
    r = await webhook(
        "action_inform",
        tracker(SENDER, f"我手机号是{ZHAOLI.phone}", "inform", events=_after("utter_ask_phone", asked="绑定",
                                                                              intent="bind_account")),
    )
    assert _followup(r) == FORM and slot_events(r)["phone"].startswith("sealed:")


async def test_phone_or_other_answer_with_no_question_asked(webhook: Any) -> None:
    for text, events in ((ZHAOLI.phone, []), ("城关镇", _after("utter_bind_invitation"))):
        r = await webhook("action_inform", tracker(SENDER, text, "inform", events=events))
        assert _followup(r) is None and "phone" not in slot_events(r)
        assert texts(r) == [response_text("utter_inform_without_question")]
