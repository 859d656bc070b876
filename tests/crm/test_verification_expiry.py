"""Verification lapses: idle timeout and absolute maximum, per channel; the one rule every reader obeys."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.settings import ConfigError, Settings
from crm.access.identity import (
    DEFAULT_POLICIES,
    VerificationPolicies,
    VerifyOutcome,
    customer_of,
    expire_session,
    find_verified,
    get_or_create_identity,
    log_out,
    note_activity,
    start_binding,
    verify_binding,
)
from crm.demo.catalogue import PERSONAS
from crm.models import AuditEvent, ChannelIdentity, Conversation
from crm.sms import SandboxSmsSender, sandbox_inbox

ZHAO = PERSONAS[-1]  # not bound in the demo bank
T0 = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)
WEB = DEFAULT_POLICIES.web
WECHAT = DEFAULT_POLICIES.wechat


def bind(s: Session, channel: str, external: str) -> ChannelIdentity:
    ident = get_or_create_identity(s, channel, external)
    start_binding(s, ident, ZHAO.phone, ZHAO.id_number[-6:], SandboxSmsSender(), now=T0)
    match = re.search(r"(\d{6})", sandbox_inbox(s, ZHAO.phone)[0])
    assert match
    assert verify_binding(s, ident, match.group(1), now=T0) is VerifyOutcome.VERIFIED
    return ident


def test_safe_defaults() -> None:
    assert WEB.idle == dt.timedelta(minutes=15) and WEB.absolute == dt.timedelta(hours=12)
    assert VerificationPolicies.from_settings(Settings()) == DEFAULT_POLICIES
    assert DEFAULT_POLICIES.of("mini_program") == WEB  # an unknown channel gets the strictest policy


def test_web_verification_lapses_after_the_idle_timeout(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = bind(s, "web", "visitor-expiry-1")
        assert find_verified(s, "web", ident.external_id, now=T0 + 14 * MIN) is not None
        assert find_verified(s, "web", ident.external_id, now=T0 + 15 * MIN) is None
        assert find_verified(s, "web", ident.external_id, now=T0 + 60 * MIN) is None


def test_activity_keeps_it_alive_but_never_past_the_absolute_maximum(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = bind(s, "web", "visitor-expiry-2")
        now = T0
        while now < T0 + WEB.absolute - 10 * MIN:
            now += 10 * MIN
            assert note_activity(s, ident, now, WEB) is False
            assert find_verified(s, "web", ident.external_id, now=now + 14 * MIN) is not None or (
                now + 14 * MIN >= T0 + WEB.absolute
            )
        assert find_verified(s, "web", ident.external_id, now=T0 + WEB.absolute - MIN) is not None
        assert find_verified(s, "web", ident.external_id, now=T0 + WEB.absolute) is None
        # The next message ends it for good, whoever reads the database afterwards.
        assert note_activity(s, ident, T0 + WEB.absolute + MIN, WEB) is True
        assert ident.customer_id is None and ident.verified_at is None


def test_a_lapse_unbinds_is_audited_and_starts_a_new_visit(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = bind(s, "web", "visitor-expiry-3")
        customer_id = ident.customer_id
        conv = Conversation(identity_id=ident.id, sender_id=f"web:{ident.external_id}", state="bot")
        s.add(conv)
        s.flush()
        assert customer_of(s, conv, now=T0 + MIN) is not None
        later = T0 + 20 * MIN
        assert find_verified(s, "web", ident.external_id, now=later) is None  # the chat asks again
        assert note_activity(s, ident, later, WEB) is True
        assert customer_of(s, conv, now=later) is None  # ended: RM views and insights no longer see them
        assert ident.session_since == later and ident.active_at == later
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "verification_ended")).one()
        assert event.customer_id == customer_id and event.detail["reason"] == "expired"
        assert note_activity(s, ident, later + MIN, WEB) is False  # said once


def test_reading_is_no_activity_and_an_idle_visitor_starts_a_new_visit(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = get_or_create_identity(s, "web", "visitor-expiry-4")
        note_activity(s, ident, T0, WEB)
        assert expire_session(s, ident, T0 + 10 * MIN, WEB) is False
        assert ident.session_since is None  # the same visit: everything still shown
        assert expire_session(s, ident, T0 + 16 * MIN, WEB) is False  # nobody was verified
        assert ident.session_since == T0 + 16 * MIN
        expire_session(s, ident, T0 + 30 * MIN, WEB)
        assert ident.session_since == T0 + 16 * MIN  # polling does not move it again


def test_log_out_ends_verification_at_once(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = bind(s, "web", "visitor-expiry-5")
        log_out(s, ident, T0 + MIN)
        assert find_verified(s, "web", ident.external_id, now=T0 + 2 * MIN) is None
        assert ident.session_since == T0 + MIN


def test_wechat_lasts_longer_but_not_forever(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = bind(s, "wechat", "oExpiryTest000000000000001")
        assert find_verified(s, "wechat", ident.external_id, now=T0 + dt.timedelta(days=29)) is not None
        assert find_verified(s, "wechat", ident.external_id, now=T0 + dt.timedelta(days=30)) is None
        customer_id = ident.customer_id
        assert note_activity(s, ident, T0 + dt.timedelta(days=31), WECHAT) is True
        # Verification ended, but the openid stays the customer's: care messages still reach their phone.
        assert ident.verified_at is None and ident.customer_id == customer_id
        assert find_verified(s, "wechat", ident.external_id, now=T0 + dt.timedelta(days=31)) is None


def test_a_verification_without_an_end_counts_as_lapsed(demo_engine: Engine) -> None:
    # Rows verified before the expiry existed (web chat: no end set by the migration).
    with Session(demo_engine) as s:
        ident = bind(s, "web", "visitor-expiry-6")
        ident.verified_until = None
        assert find_verified(s, "web", ident.external_id, now=T0) is None


def test_configured_policy_is_used_at_verification(demo_engine: Engine) -> None:
    settings = dataclasses.replace(Settings(), web_verify_idle_minutes=5)
    with Session(demo_engine) as s:
        ident = get_or_create_identity(s, "web", "visitor-expiry-7")
        start_binding(s, ident, ZHAO.phone, ZHAO.id_number[-6:], SandboxSmsSender(), now=T0)
        match = re.search(r"(\d{6})", sandbox_inbox(s, ZHAO.phone)[0])
        assert match
        lasts = VerificationPolicies.from_settings(settings)
        assert verify_binding(s, ident, match.group(1), now=T0, lasts=lasts) is VerifyOutcome.VERIFIED
        assert find_verified(s, "web", ident.external_id, now=T0 + 4 * MIN) is not None
        assert find_verified(s, "web", ident.external_id, now=T0 + 5 * MIN) is None


@pytest.mark.parametrize(
    "env",
    [
        {"WEB_VERIFY_IDLE_MINUTES": "0"},
        {"WEB_VERIFY_MAX_HOURS": "48"},
        {"WEB_VERIFY_IDLE_MINUTES": "120", "WEB_VERIFY_MAX_HOURS": "1"},
        {"WECHAT_VERIFY_IDLE_DAYS": "400"},
        {"WECHAT_VERIFY_IDLE_DAYS": "60", "WECHAT_VERIFY_MAX_DAYS": "30"},
        {"WEBCHAT_LIMIT_MESSAGES": "20"},
        {"WEBCHAT_LIMIT_SESSIONS": "0/60"},
        {"WEBCHAT_LIMIT_HANDOFFS": "unlimited"},
    ],
)
def test_check_config_refuses_unsafe_or_malformed_values(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env)


def test_limits_may_be_turned_off_and_times_read_from_the_environment() -> None:
    s = Settings.from_env({"WEBCHAT_LIMIT_MESSAGES": "off", "WEB_VERIFY_IDLE_MINUTES": "10"})
    assert s.webchat_limit_messages == "off" and s.web_verify_idle_minutes == 10


def test_a_lapse_seen_first_by_a_page_read_is_still_told_at_the_next_message(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = bind(s, "web", "visitor-expiry-8")
        assert expire_session(s, ident, T0 + 20 * MIN, WEB) is True  # the page reloaded its history
        assert note_activity(s, ident, T0 + 21 * MIN, WEB) is True
        assert note_activity(s, ident, T0 + 22 * MIN, WEB) is False


def test_waiting_for_an_rm_does_not_count_as_idle(demo_engine: Engine) -> None:
    """A customer who waits 40 minutes in the queue still reaches an RM who sees who they are, and
    keeps their verification when they write again; the absolute maximum still holds."""
    with Session(demo_engine) as s:
        ident = bind(s, "web", "visitor-expiry-queue")
        conv = Conversation(identity_id=ident.id, sender_id=f"web:{ident.external_id}", state="queued")
        s.add(conv)
        s.flush()
        waited = T0 + 40 * MIN
        assert customer_of(s, conv, now=waited) is not None  # the RM's panel while nobody spoke
        assert expire_session(s, ident, waited, WEB, with_rm=True) is False  # the page polls its history
        assert note_activity(s, ident, waited, WEB, with_rm=True) is False  # "人呢"
        assert find_verified(s, "web", ident.external_id, now=waited + MIN) is not None
        assert ident.session_since is None  # the visit (and its history) goes on
        # Back with the bot after the RM: the idle clock runs again from the last message.
        assert note_activity(s, ident, waited + 20 * MIN, WEB) is True
        assert ident.customer_id is None


def test_the_absolute_maximum_holds_while_with_an_rm(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = bind(s, "web", "visitor-expiry-queue-max")
        assert note_activity(s, ident, T0 + WEB.absolute, WEB, with_rm=True) is True
        assert ident.customer_id is None and ident.verified_at is None
