"""Gateway benchmark: WeChat callback cost without the bot (``python -m bench.gateway``).

Measures

1. signature check + AES decrypt + parse + database dedupe claim, called directly, in
   requests/s on one core (target ≥ 500);
2. the whole ``POST /wechat`` through the real gateway (``gateway.app.create_app``: metrics
   middleware, conversation core, handoff hooks, SQLite) in front of an instant fake Rasa
   served in-process over HTTP. The gateway's own cost is each request's latency minus the
   time its Rasa call took (as the gateway measures it, ``bankcare_rasa_call_seconds``);
   target p50 ≤ 5 ms.

Writes/replaces the ``## Gateway (make bench-gateway)`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import crm.models  # noqa: F401 - registers every table
from bench.report import replace_section as write_section
from core.db import make_engine, make_sessionmaker, session_scope
from core.metrics import get_metrics
from core.settings import Settings
from crm import wechat_store as store
from crm.models.base import Base
from gateway.app import create_app
from gateway.handoff.settings import HandoffSettings
from gateway.wechat.crypto import MessageCrypto, make_signature
from gateway.wechat.inbound import verify_and_parse
from gateway.wechat.messages import parse_xml_fields, render_xml
from gateway.wechat.settings import WeChatSettings

SECTION = "## Gateway (make bench-gateway)"
ROOT = Path(__file__).resolve().parent.parent
SETTINGS = Settings(
    wechat_token="bench-token", wechat_app_id="wxbenchbench0001",  # noqa: S106
    wechat_encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", wechat_app_secret="bench",  # noqa: S106
)  # fmt: skip
WECHAT = WeChatSettings.from_settings(SETTINGS)
USERS = 200  # distinct openids: most messages reuse an existing identity and conversation, as in real traffic
REPLY = "您好，一年期定期存款年利率为1.45%，具体以网点公告为准。"


def make_request(i: int, crypto: MessageCrypto) -> tuple[dict[str, str], bytes]:
    xml = render_xml({
        "ToUserName": "gh_bench", "FromUserName": f"o_bench_user_{i % USERS}", "CreateTime": int(time.time()),
        "MsgType": "text", "Content": "我想查询一下定期存款的利率", "MsgId": 10**15 + i,
    })  # fmt: skip
    ts, nonce = str(int(time.time())), str(i)
    encrypted = crypto.encrypt(xml)
    query = {
        "timestamp": ts, "nonce": nonce, "signature": make_signature(WECHAT.token, ts, nonce),
        "encrypt_type": "aes", "msg_signature": make_signature(WECHAT.token, ts, nonce, encrypted),
    }  # fmt: skip
    return query, render_xml({"ToUserName": "gh_bench", "Encrypt": encrypted}).encode()


def bench_pipeline(n: int, db_url: str) -> float:
    """Requests/s for verify + decrypt + parse + dedupe claim (one committed INSERT each)."""
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    factory = make_sessionmaker(engine)
    crypto = MessageCrypto(WECHAT.encoding_aes_key, WECHAT.app_id)
    requests = [make_request(i, crypto) for i in range(n)]
    started = time.perf_counter()
    for query, body in requests:
        verified = verify_and_parse(WECHAT, crypto, query, body)
        msg = verified.message
        with session_scope(factory) as session:
            state = store.claim_inbound(session, msg.dedupe_key, msg.from_user)
        assert state.created
    elapsed = time.perf_counter() - started
    engine.dispose()
    return n / elapsed


def instant_rasa() -> web.Application:
    """Rasa's REST channel answering at once, like a trained bot's FAQ reply."""

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response([{"recipient_id": body["sender"], "text": REPLY}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    return app


def _rasa_seconds() -> float:
    total = 0.0
    for family in get_metrics().rasa_latency.collect():
        total += sum(s.value for s in family.samples if s.name.endswith("_sum"))
    return total


async def bench_http(n: int, db_url: str, warmup: int = 100) -> dict[str, float]:
    """Latency (ms) of POST /wechat through the real gateway with an instant Rasa.

    Returns p50/p95 end to end, p50 of the Rasa call, and p50/p95 of the gateway's own share
    (end to end minus the Rasa call, per request).
    """
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    engine.dispose()
    rasa = TestServer(instant_rasa())
    await rasa.start_server()
    settings = dataclasses.replace(SETTINGS, database_url=db_url, rasa_url=str(rasa.make_url("")).rstrip("/"))
    # The sweeper would wake every 5 s and add noise unrelated to the message path.
    app = create_app(settings, HandoffSettings(sweep_interval_s=3600))
    crypto = MessageCrypto(WECHAT.encoding_aes_key, WECHAT.app_id)
    requests = [make_request(10**6 + i, crypto) for i in range(n + warmup)]
    total: list[float] = []
    gateway: list[float] = []
    rasa_call: list[float] = []
    async with TestClient(TestServer(app)) as client:
        for k, (query, body) in enumerate(requests):
            rasa_before = _rasa_seconds()
            started = time.perf_counter()
            resp = await client.post("/wechat", params=query, data=body)
            raw = await resp.read()
            elapsed = (time.perf_counter() - started) * 1000
            in_rasa = (_rasa_seconds() - rasa_before) * 1000
            assert resp.status == 200, raw
            if k < warmup:  # first messages create identities and conversations; caches warm up
                continue
            assert _reply_text(crypto, raw) == REPLY
            total.append(elapsed)
            rasa_call.append(in_rasa)
            gateway.append(elapsed - in_rasa)
    await rasa.close()
    return {
        "total_p50": statistics.median(total), "total_p95": _p95(total),
        "rasa_p50": statistics.median(rasa_call),
        "gateway_p50": statistics.median(gateway), "gateway_p95": _p95(gateway),
    }  # fmt: skip


def _reply_text(crypto: MessageCrypto, raw: bytes) -> str:
    envelope = parse_xml_fields(raw)
    return parse_xml_fields(crypto.decrypt(envelope["Encrypt"]))["Content"]


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(len(ordered) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        rate = bench_pipeline(args.n, f"sqlite:///{tmp}/pipeline.db")
        http: dict[str, Any] = asyncio.run(bench_http(min(args.n, 1000), f"sqlite:///{tmp}/http.db"))
    load_after = os.getloadavg()[0]
    verdict = "ok" if rate >= 500 else "BELOW TARGET"
    latency_verdict = "ok" if http["gateway_p50"] <= 5 else "ABOVE TARGET"
    text = "\n".join([
        SECTION,
        "",
        "Command: `make bench-gateway` (= `python -m bench.gateway`). SQLite temp file (WAL), safe-mode (AES)",
        f"messages, distinct MsgIds from {USERS} customers, one process. The end-to-end rows go through",
        "`gateway.app.create_app` (metrics, conversation core, handoff, dedupe, numbered choices) with an instant",
        "fake Rasa served in-process over HTTP; \"gateway's own\" = each request's latency minus its Rasa call.",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} UTC, load average {load_before:.2f} before / {load_after:.2f} after.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| signature + decrypt + parse + DB dedupe claim | {rate:,.0f} req/s ({verdict}) | ≥ 500 req/s |",
        f"| POST /wechat, gateway's own time: p50 | {http['gateway_p50']:.2f} ms ({latency_verdict}) | ≤ 5 ms over Rasa |",
        f"| POST /wechat, gateway's own time: p95 | {http['gateway_p95']:.2f} ms | |",
        f"| POST /wechat end to end incl. instant Rasa: p50 / p95 | {http['total_p50']:.2f} / {http['total_p95']:.2f} ms | |",
        f"| the Rasa call itself (HTTP to the instant fake): p50 | {http['rasa_p50']:.2f} ms | |",
        "",
        "Before the per-message work was cut to two transactions (issue #5; commit 5e807cc, claim, inbound,",
        "outbound, choices and finish each committed on their own, plus a tracker GET to Rasa per message), this",
        "measurement gave p50 5.12 ms / p95 7.08 ms of gateway time (6.1 ms CPU per request) at load average 1.61,",
        "against 2.32 / 3.19 ms (3.1 ms CPU) for the new code back to back.",
    ])  # fmt: skip
    print(text)
    write_section(text, args.output)


if __name__ == "__main__":
    main()
