"""Care scheduler benchmark: planning throughput and dispatch throughput.

Writes/replaces the ``## Care (make bench-care)`` section of BENCHMARKS.md.

Planning = candidates (all customers on 春节) + audience + consent + caps + Jinja render +
COPY into the outbox (PostgreSQL; SQLite: INSERT ... ON CONFLICT DO NOTHING). Dispatch = claim (FOR UPDATE SKIP LOCKED on
PostgreSQL) + send into an in-memory sender + record outcome, and then the same through the
real outbound path into the WeChat sandbox (``bench/care_sandbox.py``). Uses its own database
``bankcare_bench_care`` on the PostgreSQL at 127.0.0.1:5432 (dropped and recreated), or
``--url sqlite:///...``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.orm import Session

from bench import survey_answers
from bench.care_sandbox import bench_dispatch_sandbox
from bench.report import replace_section as write_section
from care.compliance import Policy
from care.definitions import load_into_db, read_files
from care.planner import plan_day
from care_scheduler.dispatcher import DispatchConfig, Dispatcher
from core.db import make_engine, make_sessionmaker, session_scope
from crm.models import Base, Branch, ChannelIdentity, Customer, Delivery, MarketingConsent
from crm.models.care import DeliveryStatus
from outbound.contract import RecordingSender

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


BRANCHES = 20
GIVEN_NAMES = "建华 秀英 国强 桂兰 志明 淑珍 海燕 建军 丽华 文杰 春梅 德明 玉兰 小龙 红霞 永福".split()


def seed(url: str, customers: int) -> None:
    """A bank of ``customers``: 20 branches, 10 % without marketing consent, 5 % reachable on web
    chat only, 2 % not reachable at all. PostgreSQL is filled server-side (generate_series), so a
    million customers take seconds; SQLite gets the same rows through executemany."""
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(Branch.__table__),
            [
                dict(
                    id=b,
                    code=f"B{b:03d}",
                    name=f"{TOWNS[b % len(TOWNS)]}支行",
                    town=f"{TOWNS[b % len(TOWNS)]}镇",
                    address="人民路1号",
                    phone=f"0571-8888{b:04d}",
                    latitude=30.0,
                    longitude=120.0,
                    opening_hours={"weekday": ["08:30", "17:00"], "weekend": ["09:00", "16:00"]},
                    appointment_capacity=20,
                )
                for b in range(1, BRANCHES + 1)
            ],
        )
        if engine.dialect.name == "postgresql":
            _seed_pg(conn, customers)
        else:
            _seed_generic(conn, customers)
    engine.dispose()


TOWNS = "城关 东溪 南塘 西山 北岭 桥头 新安 白沙 青石 柳营".split()


def _seed_pg(conn: Connection, customers: int) -> None:
    surnames = SURNAMES
    given = "{" + ",".join(GIVEN_NAMES) + "}"
    conn.execute(
        text(
            """
            INSERT INTO customers (id, cif_no, kind, name, gender, birthday, phone, id_number, town,
                village, occupation, risk_level, branch_id, points, opened_on, is_demo_persona)
            SELECT i, 'CIF' || lpad(i::text, 9, '0'), '个人',
                   substr(:surnames, i % 10 + 1, 1) || (CAST(:given AS text[]))[i % 16 + 1],
                   CASE WHEN i % 2 = 0 THEN 'M' ELSE 'F' END,
                   make_date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                   '139' || lpad(i::text, 8, '0'), '3301011970' || lpad(i::text, 8, '0'),
                   '城关镇', '东村', '种植户', 2, 1 + i % :branches, 0, DATE '2015-01-01', false
            FROM generate_series(1, :n) AS i
            """
        ),
        dict(n=customers, surnames=surnames, given=given, branches=BRANCHES),
    )
    conn.execute(
        text(
            """
            INSERT INTO channel_identities (id, channel, external_id, customer_id, subscribed, created_at)
            SELECT i, CASE WHEN i % 20 = 7 THEN 'web' ELSE 'wechat' END, 'openid-' || i, i, true,
                   TIMESTAMPTZ '2024-01-01 00:00:00+00'
            FROM generate_series(1, :n) AS i WHERE i % 50 <> 13
            """
        ),
        dict(n=customers),
    )
    conn.execute(
        text(
            """
            INSERT INTO marketing_consents (customer_id, channel, granted, source, updated_at)
            SELECT i, 'all', i % 10 <> 0, '开户签约', TIMESTAMPTZ '2024-01-01 00:00:00+00'
            FROM generate_series(1, :n) AS i
            """
        ),
        dict(n=customers),
    )
    for table in ("customers", "channel_identities", "marketing_consents", "branches"):
        conn.exec_driver_sql(f"ANALYZE {table}")  # a live bank's tables have statistics too


def _seed_generic(conn: Connection, customers: int) -> None:
    chunk = 20000
    stamp = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    for start in range(1, customers + 1, chunk):
        ids = range(start, min(customers + 1, start + chunk))
        conn.execute(
            insert(Customer.__table__),
            [
                dict(
                    id=i,
                    cif_no=f"CIF{i:09d}",
                    kind="个人",
                    name=SURNAMES[i % 10] + GIVEN_NAMES[i % 16],
                    gender="MF"[i % 2],
                    birthday=dt.date(1950 + i % 50, 1 + i % 12, 1 + i % 28),
                    phone=f"139{i:08d}",
                    id_number=f"3301011970{i:08d}",
                    town="城关镇",
                    village="东村",
                    occupation="种植户",
                    risk_level=2,
                    branch_id=1 + i % BRANCHES,
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
                    channel="web" if i % 20 == 7 else "wechat",
                    external_id=f"openid-{i}",
                    customer_id=i,
                    subscribed=True,
                    created_at=stamp,
                )
                for i in ids
                if i % 50 != 13
            ],
        )
        conn.execute(
            insert(MarketingConsent.__table__),
            [
                dict(customer_id=i, channel="all", granted=i % 10 != 0, source="开户签约", updated_at=stamp)
                for i in ids
            ],
        )


@dataclass
class Timing:
    """Wall time and CPU time of one measured step (client = this process, server = its backend)."""

    wall: float
    client_cpu: float
    server_cpu: float | None  # PostgreSQL backend CPU from /proc (same machine), None if unknown
    count: int

    @property
    def rate(self) -> float:
        return self.count / self.wall if self.wall else 0.0

    def cpu_text(self) -> str:
        server = f" + PostgreSQL {self.server_cpu:.1f} s" if self.server_cpu is not None else ""
        return f"client {self.client_cpu:.1f} s{server}"


def _backend_cpu(session: Session) -> tuple[int | None, float | None]:
    """CPU seconds used so far by this session's PostgreSQL backend process (Linux /proc)."""
    if session.get_bind().dialect.name != "postgresql":
        return None, None
    pid = int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())
    return pid, _proc_cpu(pid)


def _proc_cpu(pid: int | None) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_plan(url: str) -> tuple[Timing, int]:
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        load_into_db(s, [d for d in read_files() if d.code == "festival_greetings"])
    with session_scope(factory) as s:
        pid, server0 = _backend_cpu(s)
        start, cpu0 = time.perf_counter(), time.process_time()
        result = plan_day(s, DAY, collect=False)
        s.flush()
        s.commit()  # the commit (WAL flush of a million rows) is part of enqueueing
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
        server1 = _proc_cpu(pid)
    engine.dispose()
    server = server1 - server0 if server0 is not None and server1 is not None else None
    return Timing(seconds, cpu, server, sum(result.counts.values())), result.inserted


async def bench_dispatch(url: str, limit: int) -> Timing:
    """Two dispatchers drain up to ``limit`` due rows (all of them when the bank is small)."""
    engine = make_engine(url, pool_size=10)
    factory = make_sessionmaker(engine)
    sender = RecordingSender()
    batch = 2000
    cfg = DispatchConfig(
        rate_per_second=0,
        batch_size=batch,
        concurrency=500,
        policy=Policy(quiet_start=dt.time(0), quiet_end=dt.time(0)),
    )
    noon = dt.datetime(2027, 2, 6, 4, 0, tzinfo=dt.UTC)
    dispatchers = [Dispatcher(factory, sender, cfg, clock=lambda: noon) for _ in range(2)]
    rounds = max(1, -(-limit // (batch * len(dispatchers))))
    start, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.gather(*(d.drain(max_batches=rounds) for d in dispatchers))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
    with session_scope(factory) as s:
        sent = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == DeliveryStatus.SENT)) or 0
    engine.dispose()
    assert sent == len(sender.delivered), "every sent row reached the sender exactly once"
    return Timing(seconds, cpu, None, sent)




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--dispatch", type=int, default=100_000, help="rows to dispatch (a sample)")
    parser.add_argument(
        "--sandbox-dispatch", type=int, default=30_000, help="WeChat rows to dispatch into the sandbox (0: skip)"
    )
    parser.add_argument("--concurrency", type=int, default=50, help="sends in flight per dispatcher (sandbox run)")
    parser.add_argument("--url", help="database URL (default: a fresh PostgreSQL database)")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    parser_result = survey_answers.measure()  # no database needed: printed first (#24)
    print(parser_result.line())
    blind_result = survey_answers.measure(survey_answers.BLIND)
    print(blind_result.line("blind"))
    load_start = os.getloadavg()[0]
    url = args.url or _fresh_pg()
    backend = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    t0 = time.perf_counter()
    seed(url, args.customers)
    print(f"seeded {args.customers:,} customers in {time.perf_counter() - t0:.1f}s")
    plan, inserted = bench_plan(url)
    print(
        f"planned {plan.count:,} decisions ({inserted:,} rows) in {plan.wall:.1f}s = {plan.rate:,.0f}/s"
        f" (CPU {plan.cpu_text()})"
    )
    disp = asyncio.run(bench_dispatch(url, args.dispatch))
    print(f"dispatched {disp.count:,} in-memory in {disp.wall:.1f}s = {disp.rate:,.0f}/s (CPU {disp.cpu_text()})")
    box = None
    if backend == "PostgreSQL" and args.sandbox_dispatch:
        box = bench_dispatch_sandbox(url, args.sandbox_dispatch, concurrency=args.concurrency)
        print(
            f"dispatched {box.sent:,} of {box.sample:,} into the WeChat sandbox in {box.wall:.1f}s = {box.rate:,.0f}/s"
            f" (CPU client {box.client_cpu:.1f} s, sandbox {box.sandbox_cpu:.1f} s, PostgreSQL {box.postgres_cpu:.1f} s);"
            f" sandbox received"
            f" {box.received:,} for {box.recipients:,} openids; {box.attempts:,} attempts recorded;"
            f" {box.token_requests} token fetch(es); not sent: {box.other or 'none'}"
        )
    if args.url is None:
        _drop_pg()
    million = args.customers == 1_000_000
    per_million = 1_000_000 / plan.rate if plan.rate else float("inf")
    how = (
        f"measured: {plan.wall:.1f} s for 1,000,000 customers"
        if million
        else f"projected linearly from {args.customers:,} customers: {per_million:.0f} s"
    )
    ok = "ok" if per_million <= 120 else "ABOVE TARGET"
    if box is None:
        box_row = "| dispatch into the WeChat sandbox | not measured (needs PostgreSQL; `--sandbox-dispatch 0`) | ≥ 1,000 messages/s |"
    else:
        box_ok = "ok" if box.rate >= 1000 and box.received == box.sent == box.recipients else "BELOW TARGET"
        box_row = (
            f"| **dispatch into the WeChat sandbox** (claim + outbound sender + API client + HTTP + record) |"
            f" **{box.rate:,.0f} messages/s** ({box.sent:,} of a {box.sample:,}-row sample in {box.wall:.1f} s;"
            f" the sandbox received {box.received:,} messages for {box.recipients:,} openids;"
            f" {box.attempts:,} send attempts recorded; {box.token_requests} token fetch;"
            f" not sent: {box.other or 'none'}; CPU client {box.client_cpu:.1f} s + sandbox {box.sandbox_cpu:.1f} s"
            f" + PostgreSQL {box.postgres_cpu:.1f} s)"
            f" ({box_ok}) | ≥ 1,000 messages/s |"
        )
    box_text = (
        ""
        if box is None
        else f"""
Dispatch into the WeChat sandbox: the real outbound path: two dispatchers ({args.concurrency} sends in
flight each, rate limit off) → `outbound.sender.OutboundSender` (idempotency key marked `sending`
before each call, `sent` after) → `WeChatApiClient` (token shared through the database, remembered
30 s in memory; every HTTP attempt recorded) → HTTP → `bankcare wechat-sandbox` as a subprocess.
The sample is {box.sample:,} planned WeChat rows whose customers wrote an hour earlier (48-hour
window open at the bank and in the sandbox, `touch_users`), sandbox daily quota raised above the
sample; bookkeeping transactions of concurrent sends are shared (group commit), one HTTP call per message.
"""
    )
    load = os.getloadavg()[0]
    text_ = f"""{SECTION}

Command: `make bench-care` (= `python -m bench.care --customers {args.customers}`). {backend}, fresh
database, {args.customers:,} customers in {BRANCHES} branches (10 % without marketing consent, 5 % on web
chat only, 2 % unreachable), all candidates for the 春节 greeting on 2027-02-06; dispatch of a
{disp.count:,}-row sample by two dispatchers into an in-memory sender (rate limit off), then of a
separate sample into the WeChat sandbox (below).
{platform.machine()}, {os.cpu_count()} cores shared (load average {load_start:.1f} at the start, {load:.1f} at the end), Python
{platform.python_version()}. Measured {dt.date.today().isoformat()}. CPU = user + sys.
Enqueue is COPY straight into `deliveries` under a transaction advisory lock (one planner at a time);
the outbox keeps 5 indexes (primary key, unique idempotency key, customer + day, campaign, and a
partial index of rows still to dispatch) and one foreign key (customer).

| measure | result | target |
|---|---|---|
| planning (candidates + consent + caps + render + COPY into the outbox + commit) | {plan.rate:,.0f} customers/s, {plan.wall:.1f} s for {plan.count:,} decisions ({inserted:,} rows); CPU {plan.cpu_text()} | |
| planning, 1,000,000 customers | {how} ({ok}) | ≤ 120 s |
| dispatch into an in-memory sender (claim + send + record; no HTTP) | {disp.rate:,.0f} messages/s ({disp.count:,} in {disp.wall:.1f} s; CPU {disp.cpu_text()}) | |
{box_row}
{survey_answers.markdown(parser_result, blind_result)}
{box_text}"""  # noqa: E501 - markdown table rows
    write_section(text_, args.output)
    print(text_)


def _drop_pg() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")


if __name__ == "__main__":
    main()
