"""Care scheduler benchmark: planning throughput and dispatch throughput.

Writes/replaces the ``## Care (make bench-care)`` section of BENCHMARKS.md.

Planning = candidates (all customers on 春节) + audience + consent + caps + Jinja render +
INSERT ... ON CONFLICT DO NOTHING into the outbox. Dispatch = claim (FOR UPDATE SKIP LOCKED on
PostgreSQL) + send into an in-memory sender + record outcome. Uses its own database
``bankcare_bench_care`` on the PostgreSQL at 127.0.0.1:5432 (dropped and recreated), or
``--url sqlite:///...``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import platform
import re
import time
from pathlib import Path

from sqlalchemy import func, insert, select

from care_scheduler.compliance import Policy
from care_scheduler.definitions import load_into_db, read_files
from care_scheduler.outbox import DispatchConfig, Dispatcher
from care_scheduler.planner import plan_day
from care_scheduler.sender import RecordingSender
from crm.db import make_engine, make_sessionmaker, session_scope
from crm.models import Base, Branch, ChannelIdentity, Customer, Delivery, MarketingConsent

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Care (make bench-care)"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_DB = "bankcare_bench_care"
DAY = dt.date(2027, 2, 6)  # 春节 2027: every customer is a candidate for the festival greeting
SURNAMES = "张王李赵刘陈杨黄周吴"


def _fresh_pg() -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN.replace("postgresql://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB}")
        conn.execute(f"CREATE DATABASE {PG_DB}")
    return f"postgresql://postgres@127.0.0.1:5432/{PG_DB}"


def seed(url: str, customers: int) -> None:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Branch.__table__),
            [
                dict(
                    id=1,
                    code="B001",
                    name="城关支行",
                    town="城关镇",
                    address="人民路1号",
                    phone="0571-88880000",
                    latitude=30.0,
                    longitude=120.0,
                    opening_hours={"weekday": ["08:30", "17:00"], "weekend": ["09:00", "16:00"]},
                    appointment_capacity=20,
                )
            ],
        )
        chunk = 20000
        for start in range(1, customers + 1, chunk):
            ids = range(start, min(customers + 1, start + chunk))
            conn.execute(
                insert(Customer.__table__),
                [
                    dict(
                        id=i,
                        cif_no=f"CIF{i:09d}",
                        kind="个人",
                        name=SURNAMES[i % 10] + "建华",
                        gender="MF"[i % 2],
                        birthday=dt.date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                        phone=f"139{i:08d}",
                        id_number=f"3301011970{i:08d}",
                        town="城关镇",
                        village="东村",
                        occupation="种植户",
                        risk_level=2,
                        branch_id=1,
                        points=0,
                        opened_on=dt.date(2015, 1, 1),
                        is_demo_persona=False,
                    )
                    for i in ids
                ],
            )
            conn.execute(
                insert(ChannelIdentity.__table__),
                [
                    dict(
                        id=i,
                        channel="wechat",
                        external_id=f"openid-{i}",
                        customer_id=i,
                        subscribed=True,
                        created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                    )
                    for i in ids
                ],
            )
            conn.execute(
                insert(MarketingConsent.__table__),
                [
                    dict(
                        customer_id=i,
                        channel="all",
                        granted=i % 10 != 0,
                        source="开户签约",
                        updated_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                    )
                    for i in ids
                ],
            )
    engine.dispose()


def bench_plan(url: str) -> tuple[float, int, int]:
    factory = make_sessionmaker(make_engine(url))
    with session_scope(factory) as s:
        load_into_db(s, [d for d in read_files() if d.code == "festival_greetings"])
    start = time.perf_counter()
    with session_scope(factory) as s:
        result = plan_day(s, DAY, collect=False, batch=10000)
    seconds = time.perf_counter() - start
    return seconds, sum(result.counts.values()), result.inserted


async def bench_dispatch(url: str) -> tuple[float, int]:
    factory = make_sessionmaker(make_engine(url, pool_size=10))
    sender = RecordingSender()
    cfg = DispatchConfig(
        rate_per_second=0,
        batch_size=2000,
        concurrency=500,
        policy=Policy(quiet_start=dt.time(0), quiet_end=dt.time(0)),
    )
    noon = dt.datetime(2027, 2, 6, 4, 0, tzinfo=dt.UTC)
    dispatchers = [Dispatcher(factory, sender, cfg, clock=lambda: noon) for _ in range(2)]
    start = time.perf_counter()
    await asyncio.gather(*(d.drain() for d in dispatchers))
    seconds = time.perf_counter() - start
    with session_scope(factory) as s:
        sent = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "sent")) or 0
    assert sent == len(sender.delivered), "every sent row reached the sender exactly once"
    return seconds, sent


def write_section(text: str, path: Path) -> None:
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = text.rstrip() + "\n\n"
    updated = (
        pattern.sub(lambda _m: block, current)
        if pattern.search(current)
        else current.rstrip() + "\n\n" + block
    )
    path.write_text(updated.rstrip() + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--url", help="database URL (default: a fresh PostgreSQL database)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    url = args.url or _fresh_pg()
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    t0 = time.perf_counter()
    seed(url, args.customers)
    print(f"seeded {args.customers:,} customers in {time.perf_counter() - t0:.1f}s")
    plan_s, decided, inserted = bench_plan(url)
    plan_rate = decided / plan_s
    print(f"planned {decided:,} decisions ({inserted:,} rows) in {plan_s:.1f}s = {plan_rate:,.0f}/s")
    disp_s, sent = asyncio.run(bench_dispatch(url))
    disp_rate = sent / disp_s
    print(f"dispatched {sent:,} in {disp_s:.1f}s = {disp_rate:,.0f}/s")
    projected = 1_000_000 / plan_rate
    text = f"""{SECTION}

Command: `make bench-care` (= `python -m bench.care --customers {args.customers}`). {backend}, fresh database,
{args.customers:,} customers (10 % without marketing consent), all planned for 春节 2027-02-06; dispatch by two
dispatchers into an in-memory sender (rate limit off). {platform.machine()}, {platform.python_version()}.
Measured {dt.date.today().isoformat()}.

| measure | result | target |
|---|---|---|
| planning (candidates + consent + caps + render + enqueue) | {plan_rate:,.0f} customers/s ({plan_s:.1f} s for {decided:,}) | |
| planning projected to 1,000,000 customers | {projected:.0f} s ({"ok" if projected <= 120 else "ABOVE TARGET"}) | ≤ 120 s |
| dispatch (claim + send + record) | {disp_rate:,.0f} messages/s ({sent:,} in {disp_s:.1f} s) ({"ok" if disp_rate >= 1000 else "BELOW TARGET"}) | ≥ 1,000 messages/s |
"""
    write_section(text, args.output)
    print(text)


if __name__ == "__main__":
    main()
