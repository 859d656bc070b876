"""Binding form through the webhook: phone → ID last 6 → SMS code, lock-out, expiry, privacy."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from actions.binding import SENT
from actions.texts import BIND_ALREADY, BIND_EXPIRED, BIND_LOCKED, BIND_SUCCESS, BIND_WRONG_CODE
from crm.access.identity import find_verified
from crm.demo.catalogue import PERSONAS
from crm.models import BindingChallenge, SmsOutbox
from tests.actions.conftest import slot_events, texts, tracker

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
    assert texts(submit) == [BIND_SUCCESS.format(salutation="赵女士")]
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
    assert texts(r) == [BIND_WRONG_CODE]


async def test_five_wrong_codes_lock_binding(webhook: Any, db: Session) -> None:
    await _send_details(webhook, SENDER, ZHAOLI.phone, ZHAOLI.id_number[-6:])
    right = _code(db, ZHAOLI.phone)
    wrong = "111111" if right != "111111" else "222222"
    for _ in range(4):
        r = await _otp(webhook, SENDER, wrong)
        assert texts(r) == [BIND_WRONG_CODE]
    r = await _otp(webhook, SENDER, wrong)
    assert slot_events(r)["flow_status"] == "locked"
    assert slot_events(r)["requested_slot"] is None  # the form ends
    # Even the right code no longer works, and starting again is refused for now.
    again = await _send_details(webhook, SENDER, ZHAOLI.phone, ZHAOLI.id_number[-6:])
    assert slot_events(again)["flow_status"] == "locked"
    submit = await webhook(
        "action_submit_bind", tracker(SENDER, "x", "inform", slots={"flow_status": "locked"})
    )
    assert texts(submit) == [BIND_LOCKED]
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
    submit = await webhook(
        "action_submit_bind", tracker(SENDER, code, "inform", slots={"flow_status": "expired"})
    )
    assert texts(submit) == [BIND_EXPIRED]


async def test_bad_phone_is_asked_again(webhook: Any) -> None:
    r = await webhook(
        "validate_bind_account_form",
        tracker(
            SENDER, "12345", "inform", slots={"phone": "12345", "requested_slot": "phone"}, active_loop=FORM
        ),
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
    assert texts(submit) == [BIND_ALREADY]


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
