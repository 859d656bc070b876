"""Limits on binding codes (issue #19, finding 2: six fresh web visitors sent six SMS to one phone).

Per phone, per chat identity and per client address; wrong codes lock the phone across
identities; codes kept only as keyed hashes; counters move in one statement (parallel threads
on SQLite and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_engine, make_sessionmaker, session_scope
from core.metrics import get_metrics
from crm.access.identity import VerifyOutcome, get_or_create_identity, start_binding, verify_binding
from crm.demo.catalogue import PERSONAS
from crm.errors import BindingLocked
from crm.models import BindingChallenge, OtpGuard, SmsOutbox
from crm.sms import (
    OtpLimit,
    OtpPolicy,
    OtpRefused,
    OtpSent,
    SandboxSmsSender,
    sandbox_inbox,
    send_binding_code,
    storable_text,
)

T0 = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)
PHONE = "17000150003"  # nobody's: requests count the same whether or not a customer matches
ZHAO = PERSONAS[-1]
POLICY = OtpPolicy()


@pytest.fixture
def factory(migrated_url: str) -> Iterator[sessionmaker[Session]]:
    pg = "postgresql" in migrated_url
    engine = make_engine(migrated_url, pool_size=20) if pg else make_engine(migrated_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def ask(
    s: Session,
    visitor: str,
    phone: str = PHONE,
    at: dt.datetime = T0,
    address: str | None = "203.0.113.7",
    policy: OtpPolicy = POLICY,
    id6: str = "123456",
) -> OtpSent | OtpRefused:
    identity = get_or_create_identity(s, "web", visitor)
    return start_binding(s, identity, phone, id6, SandboxSmsSender(), now=at, client_address=address,
                         policy=policy)  # fmt: skip


def test_fresh_identities_cannot_flood_one_phone(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        outcomes = [ask(s, f"visitor-{i}", at=T0 + dt.timedelta(seconds=i), address=f"198.51.100.{i}")
                    for i in range(6)]  # fmt: skip
    assert outcomes[0] == OtpSent()
    assert outcomes[1:] == [OtpRefused("phone", "gap", 60 - i) for i in range(1, 6)]


def test_per_phone_budget_is_five_an_hour_and_ten_a_day(factory: sessionmaker[Session]) -> None:
    minute = dt.timedelta(seconds=61)
    with session_scope(factory) as s:
        hour = [ask(s, f"v{i}", at=T0 + i * minute, address=None) for i in range(6)]
        assert hour[:5] == [OtpSent()] * 5
        assert isinstance(hour[5], OtpRefused) and hour[5].limit == "hour"
        assert hour[5].retry_after_s == 3600 - 5 * 61
        later = T0 + dt.timedelta(hours=1)
        day = [ask(s, f"w{i}", at=later + i * minute, address=None) for i in range(6)]
        assert day[:5] == [OtpSent()] * 5
        assert isinstance(day[5], OtpRefused) and day[5].limit == "day"
        assert day[5].retry_after_s == 24 * 3600 - 3600 - 5 * 61
        assert ask(s, "next-day", at=T0 + dt.timedelta(days=1), address=None) == OtpSent()


def test_one_identity_cannot_spray_many_phones(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        assert ask(s, "sprayer", phone="17000150003") == OtpSent()
        refused = ask(s, "sprayer", phone="17000150004", at=T0 + dt.timedelta(seconds=5))
    assert refused == OtpRefused("identity", "gap", 55)


def test_one_address_has_its_own_budget_and_a_refusal_counts_nowhere(factory: sessionmaker[Session]) -> None:
    tight = OtpPolicy(address=OtpLimit(0, 2, 10))
    with session_scope(factory) as s:
        assert ask(s, "a1", phone="17000150001", policy=tight) == OtpSent()
        assert ask(s, "a2", phone="17000150002", policy=tight) == OtpSent()
        refused = ask(s, "a3", phone="17000150003", policy=tight, at=T0 + dt.timedelta(seconds=1))
        assert isinstance(refused, OtpRefused) and (refused.scope, refused.limit) == ("address", "hour")
        # The refused request did not spend the phone's or the identity's budget.
        assert ask(s, "a3", phone="17000150003", policy=tight, address="192.0.2.1") == OtpSent()


def test_a_customer_phone_and_a_stranger_phone_are_refused_alike(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        real = [ask(s, f"r{i}", phone=ZHAO.phone, at=T0 + dt.timedelta(seconds=i), address=f"192.0.2.{i}",
                    id6=ZHAO.id_number[-6:]) for i in range(2)]  # fmt: skip
        fake = [ask(s, f"f{i}", phone="17099990000", at=T0 + dt.timedelta(seconds=i), address=f"192.0.2.{i + 9}")
                for i in range(2)]  # fmt: skip
        assert real == fake == [OtpSent(), OtpRefused("phone", "gap", 59)]
        assert len(sandbox_inbox(s, ZHAO.phone)) == 1  # the refused request sent nothing
        assert sandbox_inbox(s, "17099990000") == []


def _code(s: Session, phone: str) -> str:
    found = re.search(r"\d{6}", sandbox_inbox(s, phone)[0])
    assert found
    return found.group(0)


def test_wrong_codes_lock_the_phone_across_identities(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        a = get_or_create_identity(s, "web", "attacker-a")
        b = get_or_create_identity(s, "web", "attacker-b")
        start_binding(s, a, ZHAO.phone, ZHAO.id_number[-6:], SandboxSmsSender(), now=T0)
        right_a = _code(s, ZHAO.phone)
        wrong = f"{(int(right_a) + 1) % 1_000_000:06d}"
        assert [verify_binding(s, a, wrong, now=T0) for _ in range(3)] == [VerifyOutcome.WRONG_CODE] * 3
        later = T0 + dt.timedelta(minutes=2)
        start_binding(s, b, ZHAO.phone, ZHAO.id_number[-6:], SandboxSmsSender(), now=later)
        right_b = _code(s, ZHAO.phone)
        wrong_b = f"{(int(right_b) + 1) % 1_000_000:06d}"
        assert verify_binding(s, b, wrong_b, now=later) is VerifyOutcome.WRONG_CODE
        assert verify_binding(s, b, wrong_b, now=later) is VerifyOutcome.LOCKED  # fifth wrong code for the phone
        # A third identity cannot even ask for a code for that phone for now ...
        c = get_or_create_identity(s, "web", "attacker-c")
        with pytest.raises(BindingLocked):
            start_binding(
                s, c, ZHAO.phone, ZHAO.id_number[-6:], SandboxSmsSender(), now=later + dt.timedelta(minutes=5)
            )
        # ... and after the 30 minutes the customer can bind again.
        back = later + dt.timedelta(minutes=31)
        owner = get_or_create_identity(s, "wechat", "oZhao")
        assert start_binding(s, owner, ZHAO.phone, ZHAO.id_number[-6:], SandboxSmsSender(), now=back) == OtpSent()
        assert verify_binding(s, owner, _code(s, ZHAO.phone), now=back) is VerifyOutcome.VERIFIED


def test_codes_are_kept_only_as_keyed_hashes(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ident = get_or_create_identity(s, "web", "hash-check")
        start_binding(s, ident, ZHAO.phone, ZHAO.id_number[-6:], SandboxSmsSender(), now=T0)
        code = _code(s, ZHAO.phone)
        stored = s.scalars(select(BindingChallenge.code_hash)).one()
        assert code not in stored
        # A database dump is not enough to test codes: the hash is keyed, not just salted.
        _, salt, digest = stored.split("$")
        assert hashlib.sha256((salt + code).encode()).hexdigest() != digest
        phone_key = s.scalars(select(BindingChallenge.phone_key)).one()
        assert phone_key and ZHAO.phone not in phone_key
        assert all(ZHAO.phone not in subject for subject in s.scalars(select(OtpGuard.subject)))
    # Senders other than the sandbox store the text with the code hidden.
    assert storable_text("您的绑定验证码为482913，5分钟内有效", "482913") == "您的绑定验证码为******，5分钟内有效"


def test_refusals_and_sends_are_counted_in_metrics(factory: sessionmaker[Session]) -> None:
    m = get_metrics()

    def value(name: str, **labels: str) -> float:
        return m.registry.get_sample_value(name, labels) or 0.0

    before = (value("bankcare_otp_requests_total", outcome="unmatched"),
              value("bankcare_otp_refusals_total", scope="phone", limit="gap"))  # fmt: skip
    with session_scope(factory) as s:
        ask(s, "m1")
        ask(s, "m2", at=T0 + dt.timedelta(seconds=1))
    assert value("bankcare_otp_requests_total", outcome="unmatched") == before[0] + 1
    assert value("bankcare_otp_refusals_total", scope="phone", limit="gap") == before[1] + 1


def _in_parallel(factory: sessionmaker[Session], n: int, work: object) -> list[object]:
    results: list[object] = [None] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        for _ in range(50):  # SQLite may report "database is locked" under contention: retry
            try:
                with session_scope(factory) as s:
                    results[i] = work(s, i)  # type: ignore[operator]
                return
            except Exception as exc:  # noqa: BLE001
                if "locked" not in str(exc):
                    results[i] = exc
                    return

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_parallel_requests_for_one_phone_send_one_code(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:  # the identities exist before the race
        for i in range(8):
            get_or_create_identity(s, "web", f"p{i}")

    def request(s: Session, i: int) -> object:
        return ask(s, f"p{i}", address=f"198.51.100.{i}")

    results = _in_parallel(factory, 8, request)
    assert sum(r == OtpSent() for r in results) == 1, results
    assert sum(isinstance(r, OtpRefused) for r in results) == 7, results


def test_parallel_wrong_codes_cannot_exceed_the_lock(factory: sessionmaker[Session]) -> None:
    from crm.sms import count_failure

    results = _in_parallel(factory, 12, lambda s, i: count_failure(s, POLICY, "phone", "k", T0))
    with session_scope(factory) as s:
        guard = s.get(OtpGuard, ("phone", "k"))
        assert guard is not None and guard.failures == POLICY.max_failures
        assert guard.locked_until == T0 + POLICY.lock_for
    assert sum(r is False for r in results) == POLICY.max_failures - 1, results


def test_a_request_sends_through_the_given_sender_only_once(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        outcome = send_binding_code(s, SandboxSmsSender(), POLICY, phone=PHONE, identity_id=1,
                                    client_address=None, code="482913", now=T0)  # fmt: skip
        assert outcome == OtpSent()
        assert s.scalar(select(func.count()).select_from(SmsOutbox)) == 1
        again = send_binding_code(s, SandboxSmsSender(), POLICY, phone=PHONE, identity_id=1,
                                  client_address=None, code="482913", now=T0)  # fmt: skip
        assert isinstance(again, OtpRefused)
        assert s.scalar(select(func.count()).select_from(SmsOutbox)) == 1


def test_old_counters_are_purged_but_running_locks_stay(factory: sessionmaker[Session]) -> None:
    from crm.sms import count_failure, purge_otp_guards

    with session_scope(factory) as s:
        ask(s, "old-visitor")
        for _ in range(POLICY.max_failures):
            count_failure(s, POLICY, "phone", "locked-one", T0 + dt.timedelta(days=3))
    with session_scope(factory) as s:
        assert purge_otp_guards(s, T0 + dt.timedelta(days=3, minutes=1)) == 3  # phone, identity, address
        assert [g.subject for g in s.scalars(select(OtpGuard))] == ["locked-one"]
