"""Verified binding: phone + last 6 of the ID + one-time code; lockout; no hints."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from crm.access.identity import (
    VerifyOutcome,
    find_verified,
    get_or_create_identity,
    require_verified,
    start_binding,
    verify_binding,
)
from crm.demo.catalogue import PERSONAS
from crm.errors import BindingLocked, NotVerified
from crm.models import BindingChallenge, SmsOutbox
from crm.sms import SandboxSmsSender, sandbox_inbox

ZHAO = PERSONAS[-1]  # not bound in the demo bank
T0 = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)


def code_from_sms(session: Session, phone: str) -> str:
    texts = sandbox_inbox(session, phone)
    assert texts, "an SMS should have been sent"
    match = re.search(r"(\d{6})", texts[0])
    assert match
    return match.group(1)


def test_happy_path_binds_and_verifies(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = get_or_create_identity(s, "wechat", "oNewUser0000000000000000001")
        assert find_verified(s, "wechat", ident.external_id) is None
        start_binding(s, ident, ZHAO.phone, ZHAO.id_number[-6:], SandboxSmsSender(), now=T0)
        code = code_from_sms(s, ZHAO.phone)
        assert code not in str(s.scalars(select(BindingChallenge.code_hash)).all())  # only a hash is stored
        assert verify_binding(s, ident, code, now=T0 + dt.timedelta(minutes=1)) is VerifyOutcome.VERIFIED
        who = require_verified(s, "wechat", ident.external_id)
        assert who.customer_id == ident.customer_id is not None


def test_unknown_phone_sends_nothing_and_cannot_verify(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = get_or_create_identity(s, "web", "visitor-1")
        before = s.scalar(select(func.count()).select_from(SmsOutbox))
        start_binding(s, ident, "17099990000", "123456", SandboxSmsSender(), now=T0)  # no such customer
        assert s.scalar(select(func.count()).select_from(SmsOutbox)) == before
        # The challenge exists all the same, so the caller's reply cannot differ.
        assert s.scalar(select(func.count()).select_from(BindingChallenge)) == 1
        assert verify_binding(s, ident, "000000", now=T0) is VerifyOutcome.WRONG_CODE
        with pytest.raises(NotVerified):
            require_verified(s, "web", "visitor-1")


def test_wrong_id_digits_do_not_send(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = get_or_create_identity(s, "web", "visitor-2")
        start_binding(s, ident, ZHAO.phone, "000000", SandboxSmsSender(), now=T0)
        assert sandbox_inbox(s, ZHAO.phone) == []


def test_code_expires_after_five_minutes(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = get_or_create_identity(s, "web", "visitor-3")
        start_binding(s, ident, ZHAO.phone, ZHAO.id_number[-6:], SandboxSmsSender(), now=T0)
        code = code_from_sms(s, ZHAO.phone)
        assert verify_binding(s, ident, code, now=T0 + dt.timedelta(minutes=5, seconds=1)) is VerifyOutcome.EXPIRED
        assert find_verified(s, "web", "visitor-3") is None


def test_five_wrong_codes_lock_for_thirty_minutes(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = get_or_create_identity(s, "web", "visitor-4")
        start_binding(s, ident, ZHAO.phone, ZHAO.id_number[-6:], SandboxSmsSender(), now=T0)
        code = code_from_sms(s, ZHAO.phone)
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        outcomes = [verify_binding(s, ident, wrong, now=T0) for _ in range(5)]
        assert outcomes[:4] == [VerifyOutcome.WRONG_CODE] * 4 and outcomes[4] is VerifyOutcome.LOCKED
        assert verify_binding(s, ident, code, now=T0) is VerifyOutcome.LOCKED  # even the right code
        with pytest.raises(BindingLocked):
            start_binding(s, ident, ZHAO.phone, ZHAO.id_number[-6:], SandboxSmsSender(),
                          now=T0 + dt.timedelta(minutes=29))
        # After 30 minutes a new code can be asked for and works.
        later = T0 + dt.timedelta(minutes=31)
        start_binding(s, ident, ZHAO.phone, ZHAO.id_number[-6:], SandboxSmsSender(), now=later)
        assert verify_binding(s, ident, code_from_sms(s, ZHAO.phone), now=later) is VerifyOutcome.VERIFIED
