"""Dispatch into the WeChat sandbox: the real outbound path, measured (part of ``make bench-care``).

Care dispatcher → ``outbound.sender.OutboundSender`` (idempotency key per delivery in
``outbound_sends``) → ``WeChatApiClient`` (access token shared through the database, every HTTP
attempt in ``wechat_send_attempts``) → HTTP → ``bankcare wechat-sandbox`` as a real subprocess
(48-hour window, daily quota, records what it receives).

The sample is ``n`` planned WeChat rows. Their customers wrote to the bank an hour ago (both the
bank's ``last_inbound_at`` and the sandbox's window say so: ``touch_users``), and the sandbox's
daily quota is raised above the sample, so the number is about throughput, not refusals. The
sample is made due a little earlier than the rest of the outbox and the dispatchers' clock sits
between the two, so they drain exactly the sample.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import BigInteger, any_, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY

from care.compliance import Policy
from care_scheduler.dispatcher import DispatchConfig, Dispatcher
from core.db import make_engine, make_sessionmaker, session_scope
from crm.models import ChannelIdentity, Delivery
from crm.models.care import OPEN_STATUSES, DeliveryStatus
from crm.models.outbound import OutboundSend, OutboundSendStatus
from crm.models.wechat import WeChatSendAttempt
from gateway.wechat.settings import WeChatSettings
from outbound.sender import OutboundSender
from outbound.wechat_api import WeChatApiClient

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu(pid: int) -> float | None:
    """CPU seconds (user + sys) used so far by process ``pid`` (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu() -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL process on this machine (/proc), by pid."""
    found: dict[int, float] = {}
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or (proc / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        cpu = proc_cpu(int(proc.name))
        if cpu is not None:
            found[int(proc.name)] = cpu
    return found


def postgres_cpu_since(before: dict[int, float]) -> float:
    """CPU PostgreSQL used since ``before``: processes alive now (new backends counted whole;
    a process that ended meanwhile is missed, so close no connection during the measurement)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres_cpu().items())


@dataclass
class Sandbox:
    url: str
    proc: subprocess.Popen[bytes]

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as resp:  # noqa: S310 - local sandbox
            return json.loads(resp.read())

    def control(self, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            self.url + "/sandbox/control", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - local sandbox
            return json.loads(resp.read())

    def cpu(self) -> float:
        return proc_cpu(self.proc.pid) or 0.0


@contextmanager
def sandbox_process(daily_quota: int) -> Iterator[Sandbox]:
    """``bankcare wechat-sandbox`` on a free port, with ``daily_quota`` sends per API per day."""
    port = free_port()
    env = dict(os.environ, SANDBOX_DAILY_QUOTA=str(daily_quota))
    cmd = [str(Path(sys.executable).parent / "bankcare"), "wechat-sandbox", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sandbox = Sandbox(f"http://127.0.0.1:{port}", proc)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"wechat-sandbox exited with {proc.returncode}")
            try:
                sandbox.get("/sandbox/messages?summary=1")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield sandbox
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class SandboxRun:
    """One measured dispatch into the sandbox."""

    sample: int
    wall: float
    client_cpu: float
    sandbox_cpu: float
    postgres_cpu: float  # all PostgreSQL processes on the machine (backends opened for the run included)
    sent: int  # outbox rows recorded as sent
    received: int  # messages the sandbox says it received
    recipients: int  # distinct openids among them
    attempts: int  # customer-service send attempts recorded by the API client
    token_requests: int
    other: dict[str, int]  # outbox rows of the sample not sent, by status:reason

    @property
    def rate(self) -> float:
        return self.sent / self.wall if self.wall else 0.0


def prepare_sample(url: str, n: int) -> tuple[list[int], list[str], dt.datetime]:
    """Pick ``n`` planned WeChat rows, open their customers' window in the bank's records and make
    them due first. Returns (delivery ids, openids, the dispatchers' clock)."""
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with session_scope(factory) as s:
        first_due = s.scalar(select(func.min(Delivery.not_before)).where(Delivery.status.in_(OPEN_STATUSES)))
        assert first_due is not None, "nothing left to dispatch: plan more customers or a smaller sample"
        rows = s.execute(
            select(Delivery.id, Delivery.identity_id, ChannelIdentity.external_id)
            .join(ChannelIdentity, ChannelIdentity.id == Delivery.identity_id)
            .where(Delivery.status == DeliveryStatus.PLANNED, Delivery.channel == "wechat")
            .order_by(Delivery.id.desc())  # the far end of the outbox: away from the in-memory run
            .limit(n)
        ).all()
        ids = [r.id for r in rows]
        identity_ids = [r.identity_id for r in rows]
        last_inbound = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        s.execute(
            update(ChannelIdentity)
            .where(ChannelIdentity.id == any_(bindparam("ids", identity_ids, type_=ARRAY(BigInteger))))
            .values(last_inbound_at=last_inbound)
            .execution_options(synchronize_session=False)
        )
        s.execute(
            update(Delivery)
            .where(Delivery.id == any_(bindparam("ids", ids, type_=ARRAY(BigInteger))))
            .values(not_before=first_due - dt.timedelta(minutes=2))
            .execution_options(synchronize_session=False)
        )
        s.execute(text("ANALYZE deliveries"))
    engine.dispose()
    return ids, [r.external_id for r in rows], first_due - dt.timedelta(minutes=1)


async def _dispatch(
    url: str, api_base: str, clock: dt.datetime, dispatchers: int, concurrency: int
) -> tuple[float, float]:
    """Wall seconds of the drain and CPU seconds PostgreSQL spent meanwhile."""
    engine = make_engine(url, pool_size=20)
    factory = make_sessionmaker(engine)
    settings = WeChatSettings.from_env(dict(os.environ, WECHAT_API_BASE=api_base))
    cfg = DispatchConfig(
        rate_per_second=0,
        batch_size=1000,
        concurrency=concurrency,
        policy=Policy(quiet_start=dt.time(0), quiet_end=dt.time(0)),
    )
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency * dispatchers)) as http:
            sender = OutboundSender(factory, WeChatApiClient(settings, factory, http, token_memory_s=30.0))
            workers = [Dispatcher(factory, sender, cfg, clock=lambda: clock) for _ in range(dispatchers)]
            pg0, start = postgres_cpu(), time.perf_counter()
            await asyncio.gather(*(d.drain() for d in workers))
            return time.perf_counter() - start, postgres_cpu_since(pg0)  # before the backends close
    finally:
        engine.dispose()


def bench_dispatch_sandbox(url: str, n: int, dispatchers: int = 2, concurrency: int = 50) -> SandboxRun:
    ids, openids, clock = prepare_sample(url, n)
    with sandbox_process(daily_quota=10 * max(n, 1)) as sandbox:
        assert sandbox.control({"action": "touch_users", "openids": openids})["touched"] == len(openids)
        cpu0, box0 = time.process_time(), sandbox.cpu()
        wall, pg_cpu = asyncio.run(_dispatch(url, sandbox.url, clock, dispatchers, concurrency))
        cpu, box = time.process_time() - cpu0, sandbox.cpu() - box0
        summary = sandbox.get("/sandbox/messages?summary=1")
    engine = make_engine(url)
    any_id = Delivery.id == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
    with session_scope(make_sessionmaker(engine)) as s:
        statuses = s.execute(
            select(Delivery.status, Delivery.reason, func.count())
            .where(any_id)
            .group_by(Delivery.status, Delivery.reason)
        ).all()
        attempts = s.scalar(
            select(func.count()).select_from(WeChatSendAttempt).where(WeChatSendAttempt.kind == "custom")
        )
        keys_sent = s.scalar(select(func.count()).select_from(OutboundSend).where(OutboundSend.status == OutboundSendStatus.SENT))
    engine.dispose()
    sent = sum(c for st, _r, c in statuses if st == DeliveryStatus.SENT)
    assert keys_sent == sent, f"outbound_sends says {keys_sent} sent, the outbox {sent}"
    return SandboxRun(
        sample=len(ids),
        wall=wall,
        client_cpu=cpu,
        sandbox_cpu=box,
        postgres_cpu=pg_cpu,
        sent=sent,
        received=int(summary["received"]),
        recipients=int(summary["recipients"]),
        attempts=int(attempts or 0),
        token_requests=int(summary["token_requests"]),
        other={f"{st}:{r}": c for st, r, c in statuses if st != DeliveryStatus.SENT},
    )
