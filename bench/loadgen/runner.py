"""Closed-loop (N customers, each waits for its answer) and open-loop (fixed arrival rate) drivers.

Every phase is bounded twice: by a message count and by wall time.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable

import aiohttp

from bench.loadgen.scenarios import pick_flow
from bench.loadgen.stats import Run
from bench.loadgen.wechat import WeChatPlayer

# send(http, customer_id, text) -> outcome: "ok" | "late" | "apology" | "error"
Sender = Callable[[aiohttp.ClientSession, str, str], Awaitable[str]]
APOLOGY_MARKS = ("系统暂时繁忙",)


def wechat_sender(player: WeChatPlayer, gateway_urls: list[str], encrypt: bool = False) -> Sender:
    """Signed WeChat text through ``/wechat``; customers are spread over the gateways."""

    async def send(http: aiohttp.ClientSession, customer: str, text: str) -> str:
        url = gateway_urls[hash(customer) % len(gateway_urls)]
        reply = await player.say(http, url, customer, text, encrypt=encrypt)
        if reply.status != 200:
            return "error"
        if reply.text is None:
            return "late"
        return "apology" if any(m in reply.text for m in APOLOGY_MARKS) else "ok"

    return send


def rasa_rest_sender(rasa_url: str, token: str = "") -> Sender:
    async def send(http: aiohttp.ClientSession, customer: str, text: str) -> str:
        async with http.post(
            f"{rasa_url}/webhooks/rest/webhook",
            params={"token": token},
            json={"sender": customer, "message": text},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as resp:
            await resp.read()
            return "ok" if resp.status == 200 else "error"

    return send


def rasa_parse_sender(rasa_url: str, token: str = "") -> Sender:
    async def send(http: aiohttp.ClientSession, customer: str, text: str) -> str:
        del customer
        async with http.post(
            f"{rasa_url}/model/parse", params={"token": token}, json={"text": text},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as resp:
            await resp.read()
            return "ok" if resp.status == 200 else "error"

    return send


async def _one(http: aiohttp.ClientSession, send: Sender, run: Run, customer: str, text: str) -> None:
    started = time.perf_counter()
    try:
        outcome = await send(http, customer, text)
    except (aiohttp.ClientError, TimeoutError):
        outcome = "error"
    if outcome == "error":
        run.errors += 1
        return
    run.latencies.append(time.perf_counter() - started)
    run.late += outcome == "late"
    run.apologies += outcome == "apology"


async def closed_loop(
    send: Sender,
    label: str,
    concurrency: int,
    max_messages: int,
    max_seconds: float,
    prefix: str,
    seed: int = 1,
) -> Run:
    """``concurrency`` customers, each playing flows turn by turn until a bound is reached."""
    run = Run(label, concurrency)
    rng = random.Random(seed)
    budget = itertools.count()
    deadline = time.perf_counter() + max_seconds
    ids = itertools.count()

    async def customer(http: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            cid = f"{prefix}{next(ids):06d}"
            for turn in pick_flow(rng):
                if next(budget) >= max_messages or time.perf_counter() >= deadline:
                    return
                await _one(http, send, run, cid, turn)

    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as http:
        started = time.perf_counter()
        await asyncio.gather(*(customer(http) for _ in range(concurrency)))
        run.seconds = time.perf_counter() - started
    return run


async def open_loop(
    send: Sender, label: str, rate: float, max_messages: int, max_seconds: float, prefix: str, seed: int = 2
) -> Run:
    """Customers arrive at ``rate`` flows' turns per second (Poisson), whatever the latency."""
    run = Run(label, 0)
    rng = random.Random(seed)
    tasks: set[asyncio.Task[None]] = set()
    sent = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        started = time.perf_counter()
        flows = itertools.count()

        in_flight = [0]

        async def play(cid: str, turns: list[str]) -> None:
            in_flight[0] += 1
            run.concurrency = max(run.concurrency, in_flight[0])  # peak customers mid-flow
            try:
                for turn in turns:
                    await _one(http, send, run, cid, turn)
            finally:
                in_flight[0] -= 1

        next_at = started
        while sent < max_messages and time.perf_counter() - started < max_seconds:
            turns = pick_flow(rng)
            task = asyncio.create_task(play(f"{prefix}{next(flows):06d}", turns))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += len(turns)
            # Flows arrive so that messages (not flows) arrive at ``rate`` on average.
            next_at += rng.expovariate(rate / len(turns))
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        if tasks:
            await asyncio.wait(tasks, timeout=60)
        run.seconds = time.perf_counter() - started
    return run
