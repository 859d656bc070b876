"""Set-based planning on PostgreSQL (LATERAL reach, COPY enqueue) agrees with SQLite, and claiming
with FOR UPDATE SKIP LOCKED never hands one outbox row to two dispatchers."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from care.compliance import Policy
from care.definitions import load_into_db, read_files
from care.planner import plan_day
from care_scheduler.dispatcher import DispatchConfig, Dispatcher
from core.db import make_engine, make_sessionmaker, session_scope
from crm.models import Base, ChannelIdentity, Customer, Delivery, MarketingConsent
from crm.models.care import DeliveryStatus
from crm.models.sms import SmsReach
from outbound.contract import RecordingSender
from tests.care import factories as f
from tests.conftest import drop_pg_database, new_pg_database

DAY = dt.date(2027, 2, 6)  # 春节 2027
NOON_UTC = dt.datetime(2027, 2, 6, 4, 0, tzinfo=dt.UTC)
CODES = ["birthday_greeting", "festival_greetings", "deposit_maturity_reminder"]


@pytest.fixture
def pg_engine(pg_admin: Engine) -> Iterator[Engine]:
    url = new_pg_database(pg_admin)
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_pg_database(pg_admin, url)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'parity.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def build_bank(s: Session) -> dict[int, str]:
    """A small bank exercising every rule; returns customer id -> label."""
    load_into_db(s, read_files())
    b = f.branch(s)
    labels: dict[int, str] = {}

    def cust(label: str, **kw: object) -> int:
        c = f.customer(s, b, **kw)  # type: ignore[arg-type]
        labels[c.id] = label
        return c.id

    cust("birthday", birthday=dt.date(1970, 2, 6))
    cust("plain", name="王秀英", gender="F")
    cust("refused", consent=False)
    refused_all = cust("refused_all_granted_wechat")
    s.execute(
        MarketingConsent.__table__.update().where(MarketingConsent.customer_id == refused_all).values(granted=False)
    )
    s.add(MarketingConsent(customer_id=refused_all, channel="wechat", granted=True, source="柜面"))
    cust("never_asked", consent=None)
    cust("web_only", channel="web")
    both = cust("web_then_wechat", channel="web")
    s.add(ChannelIdentity(channel="wechat", external_id=f"wx-{both}", customer_id=both, subscribed=True))
    cust("unsubscribed", subscribed=False)
    unreachable = cust("unreachable", channel=None)
    # Two hard failures (空号) marked the number unreachable by SMS: no channel left.
    s.add(SmsReach(phone=s.get_one(Customer, unreachable).phone, hard_failures=2,
                   unreachable_since=dt.datetime(2027, 1, 1, tzinfo=dt.UTC)))
    capped = cust("week_capped", name="欧阳娜娜", gender="F")
    suppressed_before = cust("prior_suppressed")
    for i, (cid, day, status) in enumerate(
        [
            (capped, dt.date(2027, 2, 2), DeliveryStatus.SENT),
            (capped, dt.date(2027, 2, 4), DeliveryStatus.SENDING),  # not due: no lease ran out
            (suppressed_before, DAY, DeliveryStatus.SUPPRESSED),
            (suppressed_before, DAY, DeliveryStatus.DEAD),
        ]
    ):
        s.add(
            Delivery(
                customer_id=cid,
                idempotency_key=f"old:{cid}:{i}",
                channel="wechat",
                is_marketing=True,
                text="x",
                status=status,
                not_before=dt.datetime(2027, 2, 1, tzinfo=dt.UTC),
                local_day=day,
            )
        )
    depositor = cust("deposit_no_consent", consent=False, name="李建国")
    td = f.deposit(s, s.get_one(Customer, depositor), f.product(s), DAY + dt.timedelta(days=7))
    td.certificate_no = "TD0000004321"  # the factory's sequence differs between the two banks
    s.flush()
    return labels


def outcome(s: Session, labels: dict[int, str]) -> dict[tuple[str, str], tuple[str, str | None, str, str]]:
    rows = s.scalars(select(Delivery).where(~Delivery.idempotency_key.like("old:%"))).all()
    return {
        (labels[d.customer_id], d.idempotency_key.split(":")[0]): (d.status, d.reason, d.channel, d.text) for d in rows
    }


def plan_bank(engine: Engine) -> tuple[dict[tuple[str, str], tuple[str, str | None, str, str]], int, int]:
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        labels = build_bank(s)
        first = plan_day(s, DAY, codes=CODES, batch=3)  # tiny batches: several keyset pages
    with session_scope(factory) as s:
        again = plan_day(s, DAY, codes=CODES, batch=3)
        assert {d.reason for d in again.decisions} == {"already_planned"}
        return outcome(s, labels), first.inserted, again.inserted


@pytest.mark.postgres
def test_planning_on_postgresql_matches_sqlite_and_keeps_every_rule(pg_engine: Engine, sqlite_engine: Engine) -> None:
    pg, pg_inserted, pg_again = plan_bank(pg_engine)
    lite, lite_inserted, _ = plan_bank(sqlite_engine)
    assert pg == lite
    assert pg_inserted == lite_inserted == len(pg) and pg_again == 0
    status = {key: value[:3] for key, value in pg.items()}
    assert status[("birthday", "birthday_greeting")] == (DeliveryStatus.PLANNED, None, "wechat")
    assert status[("birthday", "festival_greetings")] == (DeliveryStatus.SUPPRESSED, "frequency_cap_day", "wechat")
    assert status[("plain", "festival_greetings")] == (DeliveryStatus.PLANNED, None, "wechat")
    for label in ("refused", "refused_all_granted_wechat", "never_asked"):
        assert status[(label, "festival_greetings")] == (DeliveryStatus.SUPPRESSED, "no_consent", "wechat")
    assert status[("web_only", "festival_greetings")] == (DeliveryStatus.PLANNED, None, "web")
    assert status[("web_then_wechat", "festival_greetings")] == (DeliveryStatus.PLANNED, None, "wechat")
    # No longer following the account: the greeting goes by SMS (marketing consent covers all channels).
    assert status[("unsubscribed", "festival_greetings")] == (DeliveryStatus.PLANNED, None, "sms")
    assert status[("unreachable", "festival_greetings")] == (DeliveryStatus.SUPPRESSED, "sms_unreachable", "none")
    assert status[("week_capped", "festival_greetings")] == (DeliveryStatus.SUPPRESSED, "frequency_cap_week", "wechat")
    assert status[("prior_suppressed", "festival_greetings")] == (DeliveryStatus.PLANNED, None, "wechat")
    assert status[("deposit_no_consent", "deposit_maturity_reminder")] == (DeliveryStatus.PLANNED, None, "wechat")
    assert status[("deposit_no_consent", "festival_greetings")] == (DeliveryStatus.SUPPRESSED, "no_consent", "wechat")
    assert pg[("plain", "festival_greetings")][3].startswith("王女士，新春快乐")
    assert pg[("week_capped", "festival_greetings")][3].startswith("欧阳女士")
    with pg_engine.connect() as conn:
        # every outbox row records the segment version and day it was planned with, and its decision time
        assert (
            conn.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(
                    ~Delivery.idempotency_key.like("old:%"),
                    (Delivery.local_day != DAY) | Delivery.decided_at.is_(None),
                )
            )
            == 0
        )


@pytest.mark.postgres
def test_claiming_skips_rows_locked_by_another_dispatcher(pg_engine: Engine) -> None:
    factory = make_sessionmaker(pg_engine)
    with session_scope(factory) as s:
        build_bank(s)
        plan_day(s, DAY, codes=CODES)
    with session_scope(factory) as s:
        due = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.PLANNED))
    assert due and due >= 5
    cfg = DispatchConfig(batch_size=1000, policy=Policy())
    dispatcher = Dispatcher(factory, RecordingSender(), cfg, clock=lambda: NOON_UTC)
    with pg_engine.connect() as other:
        locked = set(
            other.execute(
                text("SELECT id FROM deliveries WHERE status = 'planned' ORDER BY id LIMIT 2 FOR UPDATE")
            ).scalars()
        )
        first = {v.delivery_id for v in dispatcher._claim("token-a", NOON_UTC)}
        assert first and not (first & locked), "a row locked by another dispatcher is skipped"
        other.rollback()
    second = {v.delivery_id for v in dispatcher._claim("token-b", NOON_UTC)}
    assert second == locked, "released rows are claimed by the next dispatcher, once"
    assert dispatcher._claim("token-c", NOON_UTC) == []
    with session_scope(factory) as s:
        owners = dict(s.execute(select(Delivery.id, Delivery.claim_token).where(Delivery.id.in_(first | second))).all())
    assert {owners[i] for i in first} == {"token-a"} and {owners[i] for i in second} == {"token-b"}
    assert len(first | second) == due


@pytest.mark.postgres
def test_claim_screens_consent_withdrawn_and_unsubscribed_after_planning(pg_engine: Engine) -> None:
    factory = make_sessionmaker(pg_engine)
    with session_scope(factory) as s:
        labels = build_bank(s)
        plan_day(s, DAY, codes=CODES)
        ids = {label: cid for cid, label in labels.items()}
        # after planning: 王秀英 withdraws consent at the counter, the web-only customer unsubscribes
        s.execute(
            MarketingConsent.__table__.update()
            .where(MarketingConsent.customer_id == ids["plain"])
            .values(granted=False)
        )
        s.execute(
            ChannelIdentity.__table__.update()
            .where(ChannelIdentity.customer_id == ids["web_only"])
            .values(subscribed=False)
        )
    dispatcher = Dispatcher(factory, RecordingSender(), DispatchConfig(batch_size=1000), clock=lambda: NOON_UTC)
    views = dispatcher._claim("token", NOON_UTC)
    assert {labels[v.customer_id] for v in views} >= {"birthday", "deposit_no_consent", "web_then_wechat"}
    assert not {labels[v.customer_id] for v in views} & {"plain", "web_only"}
    with session_scope(factory) as s:
        got = {
            labels[d.customer_id]: (d.status, d.reason, d.claim_token, d.attempts)
            for d in s.scalars(select(Delivery).where(Delivery.customer_id.in_([ids["plain"], ids["web_only"]])))
        }
    assert got == {
        "plain": (DeliveryStatus.SUPPRESSED, "opted_out", None, 1),
        "web_only": (DeliveryStatus.SUPPRESSED, "unsubscribed", None, 1),
    }


@pytest.mark.postgres
@pytest.mark.parametrize("batch", [3, 10])
def test_second_pass_sees_every_row_of_the_first_while_writes_overlap(pg_engine: Engine, batch: int) -> None:
    """2020-10-01 was both 中秋 and 国庆: two passes of one campaign. Batch k is written while
    batch k+1 is decided, so without the barrier between passes the last page of the first pass
    would still be unwritten when the second pass counts caps, and 2 greetings would go out
    (batch 10: the first pass is one page, exactly the rows the second pass reads first)."""
    factory = make_sessionmaker(pg_engine)
    day = dt.date(2020, 10, 1)
    with session_scope(factory) as s:
        load_into_db(s, read_files())
        b = f.branch(s)
        ids = [f.customer(s, b, birthday=dt.date(1960, 1, 1)).id for _ in range(7)]
        result = plan_day(s, day, codes=["festival_greetings"], batch=batch)
    assert result.inserted == 14
    with session_scope(factory) as s:
        rows = s.execute(select(Delivery.customer_id, Delivery.status, Delivery.reason)).all()
    for cid in ids:
        mine = sorted((status, reason or "") for c, status, reason in rows if c == cid)
        assert mine == [(DeliveryStatus.PLANNED, ""), (DeliveryStatus.SUPPRESSED, "frequency_cap_day")], cid


@pytest.mark.postgres
def test_a_second_planner_waits_and_then_respects_the_first_ones_rows(pg_engine: Engine) -> None:
    """The scheduler and ``care run-due`` plan at once: the second waits for the planning lock,
    then sees the first one's rows, so nothing is planned twice and the day's cap still holds
    (without the lock it would count caps before the first commits and greet the birthday
    customer twice on 春节)."""
    factory = make_sessionmaker(pg_engine)
    with session_scope(factory) as s:
        labels = build_bank(s)
    ids = {label: cid for cid, label in labels.items()}
    first = factory()
    try:
        planned_first = plan_day(first, DAY, codes=["festival_greetings"]).inserted
        assert planned_first > 0
        outcome_second: dict[str, Any] = {}

        def second() -> None:
            try:
                with session_scope(factory) as s:
                    result = plan_day(s, DAY, codes=["birthday_greeting", "festival_greetings"])
                    outcome_second["inserted"] = result.inserted
            except BaseException as exc:  # surfaced below, on the test's thread
                outcome_second["error"] = exc

        thread = threading.Thread(target=second)
        thread.start()
        waiting = 0
        deadline = time.monotonic() + 10
        with pg_engine.connect() as probe:
            while not waiting and time.monotonic() < deadline:
                waiting = probe.scalar(
                    text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                )
                probe.rollback()
                time.sleep(0.05)
        assert waiting == 1, "the second planner must wait for the first"
        assert thread.is_alive()
        first.commit()
    finally:
        first.close()
    thread.join(timeout=30)
    assert not thread.is_alive() and "error" not in outcome_second, outcome_second.get("error")
    assert outcome_second["inserted"] == 1  # only the birthday greeting's decision is new
    with session_scope(factory) as s:
        birthday = s.execute(
            select(Delivery.idempotency_key, Delivery.status, Delivery.reason).where(
                Delivery.customer_id == ids["birthday"]
            )
        ).all()
    assert sorted((key.split(":")[0], status, reason) for key, status, reason in birthday) == [
        ("birthday_greeting", DeliveryStatus.SUPPRESSED, "frequency_cap_day"),
        ("festival_greetings", DeliveryStatus.PLANNED, None),
    ]
