"""bench-sms: care messages dispatched through the SMS sandbox with the real Tencent Cloud SDK.

The sandbox runs as its own process (``bankcare sms-sandbox``), exactly as ``make run`` starts it,
and pushes delivery reports to a receiver standing in for the gateway. Batches of 200 distinct
numbers (Tencent's limit per request; the sandbox's frequency limits apply per number) go out
from a few threads, each with its own SDK client. Reported: messages/s (target >= 2,000),
request latency, and the check that nothing was lost or sent twice (every number accepted once by
the sandbox, one delivery report each).

    python -m bench.care_sms [--messages 40000] [--threads 4] [--provider tencent|aliyun] [--no-write]
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--provider", choices=("tencent", "aliyun"), default="tencent")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
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
