"""bench-sms: care messages dispatched through the SMS sandbox with the real Tencent Cloud SDK.

The sandbox runs as its own process (``bankcare sms-sandbox``), exactly as ``make run`` starts it,
and pushes delivery reports to a receiver standing in for the gateway. Batches of 200 distinct
numbers (Tencent's limit per request; the sandbox's frequency limits apply per number) go out
from a few threads, each with its own SDK client. Reported: messages/s (target >= 2,000),
request latency, and the check that nothing was lost or sent twice (every number accepted once by
the sandbox, one delivery report each).

    python -m bench.care_sms [--messages 40000] [--threads 4] [--provider tencent|aliyun] [--no-write]

``--dispatch`` (part of ``make bench-care``) runs the care scheduler's dispatcher instead: an outbox
of campaign SMS rows (a 春节 greeting with personalised salutations and branches) claimed in
batches, reserved, sent in one request per template + parameters, recorded. Then a second outbox
is dispatched by a child process that is SIGKILLed mid-batch (some requests answered and not
recorded, some reserved and never sent) and restarted: every number must be accepted once.

    python -m bench.care_sms --dispatch [--messages 40000] [--kill-messages 6000] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aiohttp import web

from outbound.sms.aliyun import AliyunSms
from outbound.sms.config import SandboxAccount
from outbound.sms.results import SmsProvider, SmsResult
from outbound.sms.templates import load_templates
from outbound.sms.tencent import TencentSms

ROOT = Path(__file__).resolve().parent.parent
TARGET_PER_S = 2000
PARAMS = ["尊敬的客户", "城关支行"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ReportReceiver:
    """Counts delivery reports per number, as the gateway's callback would receive them."""

    def __init__(self) -> None:
        self.per_phone: Counter[str] = Counter()
        self.posts = 0
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        self._ready.wait(10)

    async def _receive(self, request: web.Request) -> web.Response:
        items = await request.json()
        self.posts += 1
        for item in items if isinstance(items, list) else [items]:
            self.per_phone[str(item.get("mobile") or item.get("phone_number"))] += 1
        return web.json_response({"result": 0, "errmsg": "OK"})

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._receive)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()


def start_sandbox(port: int, gateway: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bankcare.cli", "sms-sandbox", "--port", str(port), "--gateway", gateway,
         "--report-delay", "0.2"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            stats(port)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("短信沙箱未能启动")


def stats(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/sandbox/sms/api/stats", timeout=5) as resp:
        return dict(json.loads(resp.read()))


def make_provider(kind: str, url: str) -> SmsProvider:
    account, book = SandboxAccount(), load_templates()
    if kind == "aliyun":
        return AliyunSms(access_key_id=account.aliyun_access_key_id,
                         access_key_secret=account.aliyun_access_key_secret, sign_name=book.signature, endpoint=url)
    return TencentSms(secret_id=account.tencent_secret_id, secret_key=account.tencent_secret_key,
                      sdk_app_id=account.tencent_sdk_app_id, sign_name=book.signature, endpoint=url)


def run(messages: int, threads: int, kind: str, batch: int) -> dict[str, object]:
    receiver = ReportReceiver()
    port = free_port()
    sandbox = start_sandbox(port, f"http://127.0.0.1:{receiver.port}")
    url = f"http://127.0.0.1:{port}"
    template = load_templates().get("birthday_greeting")
    # Distinct numbers, none ending in 0000/0001 (the sandbox's 空号/停机), so every one is delivered.
    phones = [f"150{n:08d}" for n in range(10_000_002, 10_000_002 + messages * 2) if n % 10_000 > 1][:messages]
    batches = [phones[i : i + batch] for i in range(0, len(phones), batch)]
    local = threading.local()
    latencies: list[float] = []

    def send(numbers: list[str]) -> list[SmsResult]:
        if not hasattr(local, "provider"):
            local.provider = make_provider(kind, url)
        started = time.perf_counter()
        results = local.provider.send_batch(template, numbers, PARAMS)
        latencies.append(time.perf_counter() - started)
        return results

    try:
        send(["15099999998"])  # one warm-up request (connection, imports); not counted
        latencies.clear()
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            results = [r for part in pool.map(send, batches) for r in part]
        seconds = time.perf_counter() - started
        deadline = time.monotonic() + 30
        while sum(receiver.per_phone.values()) < messages + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        sandbox_stats = stats(port)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    outcomes = Counter(r.outcome for r in results)
    reported = {p: n for p, n in receiver.per_phone.items() if p != "15099999998"}
    latencies.sort()
    return {
        "provider": kind, "messages": messages, "batch": batch, "threads": threads, "requests": len(batches),
        "seconds": seconds, "per_s": messages / seconds,
        "p50_ms": statistics.median(latencies) * 1000, "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "sent": outcomes["sent"], "retry": outcomes["retry"], "failed": outcomes["failed"],
        "accepted_by_sandbox": int(sandbox_stats["accepted"]) - 1,  # type: ignore[call-overload]
        "reports": sum(reported.values()), "numbers_reported": len(reported),
        "reported_twice": sum(1 for n in reported.values() if n > 1),
        "lost": len(set(phones) - reported.keys()),
    }


def render(r: dict[str, object]) -> str:
    ok = "达标" if float(r["per_s"]) >= TARGET_PER_S else "未达标"  # type: ignore[arg-type]
    return (
        f"- {r['provider']} SDK, {r['messages']:,} messages to distinct numbers in {r['requests']} requests of "
        f"{r['batch']} ({r['threads']} threads): **{r['per_s']:,.0f} messages/s** ({r['seconds']:.1f} s; target "
        f"{TARGET_PER_S:,}/s: {ok}); request p50/p95 {r['p50_ms']:.0f}/{r['p95_ms']:.0f} ms\n"
        f"- outcomes: sent {r['sent']:,}, retry {r['retry']}, failed {r['failed']}; the sandbox accepted "
        f"{r['accepted_by_sandbox']:,}; delivery reports pushed back {r['reports']:,} for {r['numbers_reported']:,} "
        f"numbers; lost {r['lost']}, reported twice {r['reported_twice']}"
    )


# --- the dispatcher through the sandbox (make bench-care) -------------------------------------

SALUTATIONS = ("张先生", "王女士", "李先生", "赵女士", "刘先生", "陈女士", "杨先生", "黄女士")
BRANCHES = ("城关支行", "河湾分理处", "王庄分理处", "柳树镇支行")


def make_outbox(url: str, phones: list[str]) -> None:
    """A database with one customer per phone and one planned 春节 SMS each (all due now)."""
    import datetime as dt

    from sqlalchemy import insert

    from care.sms_channel import dump_params
    from core.db import make_engine
    from crm.models import Base, Branch, Customer, Delivery
    from crm.models.care import DeliveryStatus

    engine = make_engine(url)
    Base.metadata.create_all(engine)
    book = load_templates()
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with engine.begin() as conn:
        conn.execute(insert(Branch), [dict(id=1, code="B001", name="城关支行", town="城关镇", address="人民路1号",
                                           phone="0394-3200000", latitude=33.0, longitude=115.0, opening_hours={})])
        conn.execute(insert(Customer), [
            dict(id=i + 1, cif_no=f"C{i + 1:010d}", kind="个人", name="张建华", gender="M",
                 birthday=dt.date(1960, 1, 1), phone=p, id_number="410000196001010000", town="城关镇",
                 village="东村", occupation="种植户", branch_id=1, opened_on=dt.date(2010, 1, 1))
            for i, p in enumerate(phones)
        ])
        rows = []
        for i in range(len(phones)):
            params = (SALUTATIONS[i % len(SALUTATIONS)], BRANCHES[(i // len(SALUTATIONS)) % len(BRANCHES)])
            rows.append(dict(customer_id=i + 1, idempotency_key=f"festival_greetings:{i + 1}:spring_festival:2027",
                             channel="sms", is_marketing=True, text=book.full_text("spring_festival_greeting", params),
                             sms_template="spring_festival_greeting", sms_params=dump_params(params),
                             status=DeliveryStatus.PLANNED, not_before=now, local_day=now.date(), attempts=0))
        conn.execute(insert(Delivery), rows)
        # Marketing consent on every channel (the dispatcher checks it again at send time).
        from crm.models import MarketingConsent

        conn.execute(insert(MarketingConsent), [
            dict(customer_id=i + 1, channel="all", granted=True, source="开户签约") for i in range(len(phones))
        ])
    engine.dispose()


class _StallingTencent(TencentSms):
    """Hangs right after its Nth answered request (sent, never recorded); later requests hang
    before they leave (reserved, never sent)."""

    answered = 0
    stall_after: int | None = None
    lock = threading.Lock()

    def send_batch(self, template, phones, params, *, context=""):  # type: ignore[no-untyped-def]
        cls = _StallingTencent
        with cls.lock:
            if cls.stall_after is not None and cls.answered >= cls.stall_after:
                stall = True
            else:
                stall = False
        if stall:
            time.sleep(3600)
        results = super().send_batch(template, phones, params, context=context)
        with cls.lock:
            cls.answered += 1
            stall = cls.stall_after is not None and cls.answered >= cls.stall_after
        if stall:
            time.sleep(3600)
        return results


def dispatch(url: str, endpoint: str, stall_after: int | None = None, batch: int = 4000) -> int:
    """Drain the outbox at ``url`` through the sandbox; returns rows claimed."""
    import datetime as dt

    from care.compliance import Policy
    from care_scheduler.dispatcher import DispatchConfig, Dispatcher
    from core.db import make_engine, make_sessionmaker
    from outbound.contract import DeliveryView, SendOutcome
    from outbound.sms.dispatch import SmsDispatchSender

    _StallingTencent.stall_after = stall_after
    account, book = SandboxAccount(), load_templates()
    factory = make_sessionmaker(make_engine(url))
    sms = SmsDispatchSender(
        factory,
        lambda: _StallingTencent(secret_id=account.tencent_secret_id, secret_key=account.tencent_secret_key,
                                 sdk_app_id=account.tencent_sdk_app_id, sign_name=book.signature, endpoint=endpoint),
        workers=4, settle_s=0,
    )

    class SmsOnly:
        def __init__(self) -> None:
            self.sms = sms

        async def send(self, delivery: DeliveryView) -> SendOutcome:
            return SendOutcome.failed("not_sms")

    config = DispatchConfig(rate_per_second=0, batch_size=batch, lease=dt.timedelta(seconds=2),
                            policy=Policy(quiet_start=dt.time(0), quiet_end=dt.time(0)))
    dispatcher = Dispatcher(factory, SmsOnly(), config)

    async def drain() -> int:
        total = 0
        while True:
            n = await dispatcher.run_once()
            total += n
            if n == 0:
                if not _open_rows(factory):
                    return total
                await asyncio.sleep(0.2)  # rows leased by a dead dispatcher: wait for the lease

    try:
        return asyncio.run(drain())
    finally:
        sms.close()


def _open_rows(factory) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from core.db import session_scope
    from crm.models import Delivery

    with session_scope(factory) as session:
        return int(session.scalar(
            select(func.count()).select_from(Delivery)
            .where(Delivery.status.in_(("planned", "sending", "failed", "deferred")))
        ) or 0)


def _outbox_state(url: str) -> tuple[Counter[str], Counter[str]]:
    from sqlalchemy import select

    from core.db import make_engine, make_sessionmaker, session_scope
    from crm.models import Delivery
    from crm.models.sms import SmsMessage

    with session_scope(make_sessionmaker(make_engine(url))) as session:
        return (Counter(str(s) for s in session.scalars(select(Delivery.status))),
                Counter(session.scalars(select(SmsMessage.status))))


def run_dispatch(messages: int, kill_messages: int, workdir: Path) -> dict[str, object]:
    receiver = ReportReceiver()
    port = free_port()
    sandbox = start_sandbox(port, f"http://127.0.0.1:{receiver.port}")
    endpoint = f"http://127.0.0.1:{port}"
    every = [f"151{n:08d}" for n in range(20_000_002, 20_000_002 + (messages + kill_messages) * 2)
             if n % 10_000 > 1][: messages + kill_messages]
    first, second = every[:messages], every[messages:]
    try:
        url = f"sqlite:///{workdir / 'dispatch.db'}"
        make_outbox(url, first)
        started = time.perf_counter()
        claimed = dispatch(url, endpoint)
        seconds = time.perf_counter() - started
        status, sms_status = _outbox_state(url)

        kill_url = f"sqlite:///{workdir / 'kill.db'}"
        make_outbox(kill_url, second)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        before = int(stats(port)["accepted"])  # type: ignore[call-overload]
        requests_before = int(stats(port)["requests"])  # type: ignore[call-overload]
        child = subprocess.Popen([sys.executable, "-m", "bench.care_sms", "--dispatch-child", kill_url, endpoint,
                                  "6"], cwd=ROOT, env=env)
        deadline = time.monotonic() + 120
        while int(stats(port)["requests"]) < requests_before + 6:  # type: ignore[call-overload]
            if child.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the dispatcher to be killed ended or never got going")
            time.sleep(0.02)
        time.sleep(0.5)
        child.kill()
        child.wait(10)
        killed_status, killed_sms = _outbox_state(kill_url)
        accepted_at_kill = int(stats(port)["accepted"]) - before  # type: ignore[call-overload]
        restarted = subprocess.run([sys.executable, "-m", "bench.care_sms", "--dispatch-child", kill_url, endpoint],
                                   cwd=ROOT, env=env, timeout=600)
        after_status, after_sms = _outbox_state(kill_url)
        deadline = time.monotonic() + 60
        while sum(receiver.per_phone.values()) < len(every) and time.monotonic() < deadline:
            time.sleep(0.1)
        sandbox_stats = stats(port)
    finally:
        sandbox.terminate()
        sandbox.wait(10)
    reports = receiver.per_phone
    return {
        "messages": messages, "claimed": claimed, "seconds": seconds, "per_s": messages / seconds,
        "requests": int(sandbox_stats["requests"]),  # type: ignore[call-overload]
        "sent": status["sent"], "sms_sent": sms_status["sent"],
        "kill_messages": kill_messages, "accepted_at_kill": accepted_at_kill,
        "unanswered_at_kill": killed_sms["pending"], "recorded_at_kill": killed_sms["sent"],
        "restart_ok": restarted.returncode == 0, "kill_sent": after_status["sent"], "kill_sms_sent": after_sms["sent"],
        "accepted": int(sandbox_stats["accepted"]),  # type: ignore[call-overload]
        "lost": sum(1 for p in every if reports[p] == 0), "twice": sum(1 for p in every if reports[p] > 1),
        "killed_status": dict(killed_status),
        "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def render_dispatch(r: dict[str, object]) -> str:
    ok = "达标" if float(r["per_s"]) >= TARGET_PER_S else "未达标"  # type: ignore[arg-type]
    return (
        f"- dispatcher (SQLite outbox, claims of 4,000, 4 sender threads): {r['messages']:,} campaign SMS with "
        f"{len(SALUTATIONS) * len(BRANCHES)} distinct parameter lists: **{r['per_s']:,.0f} messages/s** "
        f"({r['seconds']:.1f} s; target {TARGET_PER_S:,}/s: {ok}); outbox sent {r['sent']:,}, sms_messages sent "
        f"{r['sms_sent']:,}\n"
        f"- SIGKILL mid-batch: {r['kill_messages']:,} SMS; at the kill the sandbox had accepted "
        f"{r['accepted_at_kill']:,}, the database had recorded {r['recorded_at_kill']:,} and held "
        f"{r['unanswered_at_kill']:,} reserved without an answer; after the restart outbox sent "
        f"{r['kill_sent']:,}, sms_messages sent {r['kill_sms_sent']:,}\n"
        f"- both runs: the sandbox accepted {r['accepted']:,} for {r['messages'] + r['kill_messages']:,} "  # type: ignore[operator]
        f"numbers; numbers without a delivery report (lost) {r['lost']}, reported twice {r['twice']}\n"
        f"- machine load average while measuring: {r['load']} (above 2 means other work shared the 2 cores; "
        f"the provider path alone is `make bench-sms`)"
    )


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--dispatch-child":
        extra = sys.argv[2:]
        dispatch(extra[0], extra[1], int(extra[2]) if len(extra) > 2 else None)
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--provider", choices=("tencent", "aliyun"), default="tencent")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    parser.add_argument("--dispatch", action="store_true", help="the dispatcher with an outbox (make bench-care)")
    parser.add_argument("--kill-messages", type=int, default=6000)
    args = parser.parse_args(argv)
    if args.dispatch:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            outcome = run_dispatch(args.messages, args.kill_messages, Path(tmp))
        text = render_dispatch(outcome)
        print(text)
        if not args.no_write:
            from bench.report import write_section

            write_section(
                "Care SMS through the dispatcher (make bench-care)",
                "The care scheduler's dispatcher sends campaign SMS rows through `bankcare sms-sandbox` (own "
                "process) with the real Tencent Cloud SDK: rows reserved before each request and recorded after, "
                "one request per template + parameters; then a dispatcher is SIGKILLed mid-batch and restarted "
                "(bench/care_sms.py --dispatch).\n\n" + text,
            )
        good = (float(outcome["per_s"]) >= TARGET_PER_S and outcome["lost"] == 0  # type: ignore[arg-type]
                and outcome["twice"] == 0 and outcome["kill_sent"] == args.kill_messages)
        return 0 if good else 1
    result = run(args.messages, args.threads, args.provider, args.batch)
    text = render(result)
    print(text)
    if not args.no_write:
        from bench.report import write_section

        write_section(
            "SMS dispatch through the sandbox (make bench-sms)",
            "The real Tencent Cloud SDK (`SendSms`, 200 numbers per request, TC3 signatures checked) against "
            "`bankcare sms-sandbox` in its own process, delivery reports pushed to a local receiver "
            "(bench/care_sms.py).\n\n" + text,
        )
    return 0 if float(result["per_s"]) >= TARGET_PER_S and result["lost"] == 0 else 1  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(main())
