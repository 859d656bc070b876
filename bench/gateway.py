"""Gateway benchmark: WeChat callback cost without the bot (``python -m bench.gateway``).

Measures (1) signature check + AES decrypt + parse + database dedupe claim, called directly,
in requests/s on one core (target ≥ 500), and (2) the whole ``POST /wechat`` through aiohttp
with an instant conversation core: the gateway's own latency (target p50 ≤ 5 ms).
Writes/replaces the ``## Gateway (make bench-gateway)`` section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import crm.models  # noqa: F401 - registers every table
from bench.report import replace_section as write_section
from crm import wechat_store as store
from crm.db import make_engine, make_sessionmaker, session_scope
from crm.models.base import Base
from gateway.chat_types import BotReply, InboundMessage
from gateway.wechat.crypto import MessageCrypto, make_signature
from gateway.wechat.inbound import verify_and_parse
from gateway.wechat.messages import render_xml
from gateway.wechat.routes import setup_wechat
from gateway.wechat.settings import WeChatSettings

SECTION = "## Gateway (make bench-gateway)"
ROOT = Path(__file__).resolve().parent.parent
SETTINGS = WeChatSettings(
    token="bench-token", app_id="wxbenchbench0001", encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    app_secret="bench", original_id="gh_bench",
)  # fmt: skip


class InstantChat:
    async def handle_message(self, message: InboundMessage) -> list[BotReply]:
        return [BotReply("您好，已收到。")]

    async def on_subscribe(self, channel: str, user_id: str, scene: str | None) -> list[BotReply]:
        return [BotReply("欢迎关注！")]

    async def on_unsubscribe(self, channel: str, user_id: str) -> None:
        return None


def make_request(i: int, crypto: MessageCrypto) -> tuple[dict[str, str], bytes]:
    xml = render_xml({
        "ToUserName": "gh_bench", "FromUserName": f"o_bench_user_{i % 500}", "CreateTime": int(time.time()),
        "MsgType": "text", "Content": "我想查询一下定期存款的利率", "MsgId": 10**15 + i,
    })  # fmt: skip
    ts, nonce = str(int(time.time())), str(i)
    encrypted = crypto.encrypt(xml)
    query = {
        "timestamp": ts, "nonce": nonce, "signature": make_signature(SETTINGS.token, ts, nonce),
        "encrypt_type": "aes", "msg_signature": make_signature(SETTINGS.token, ts, nonce, encrypted),
    }  # fmt: skip
    return query, render_xml({"ToUserName": "gh_bench", "Encrypt": encrypted}).encode()


def bench_pipeline(n: int, db_url: str) -> float:
    """Requests/s for verify + decrypt + parse + dedupe claim (one committed INSERT each)."""
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    factory = make_sessionmaker(engine)
    crypto = MessageCrypto(SETTINGS.encoding_aes_key, SETTINGS.app_id)
    requests = [make_request(i, crypto) for i in range(n)]
    started = time.perf_counter()
    for query, body in requests:
        verified = verify_and_parse(SETTINGS, crypto, query, body)
        msg = verified.message
        with session_scope(factory) as session:
            state = store.claim_inbound(session, msg.dedupe_key, msg.from_user)
        assert state.created
    elapsed = time.perf_counter() - started
    engine.dispose()
    return n / elapsed


async def bench_http(n: int, db_url: str) -> tuple[float, float]:
    """p50 and p95 latency (ms) of POST /wechat with an instant core."""
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    app = web.Application()
    setup_wechat(app, SETTINGS, InstantChat(), make_sessionmaker(engine))
    crypto = MessageCrypto(SETTINGS.encoding_aes_key, SETTINGS.app_id)
    requests = [make_request(10**6 + i, crypto) for i in range(n)]
    latencies: list[float] = []
    async with TestClient(TestServer(app)) as client:
        for query, body in requests:
            started = time.perf_counter()
            resp = await client.post("/wechat", params=query, data=body)
            await resp.read()
            latencies.append((time.perf_counter() - started) * 1000)
            assert resp.status == 200
    engine.dispose()
    latencies.sort()
    return statistics.median(latencies), latencies[int(len(latencies) * 0.95) - 1]




def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rate = bench_pipeline(args.n, f"sqlite:///{tmp}/pipeline.db")
        p50, p95 = asyncio.run(bench_http(min(args.n, 1000), f"sqlite:///{tmp}/http.db"))
    verdict = "ok" if rate >= 500 else "BELOW TARGET"
    latency_verdict = "ok" if p50 <= 5 else "ABOVE TARGET"
    text = "\n".join([
        SECTION,
        "",
        "Command: `make bench-gateway` (= `python -m bench.gateway`). SQLite temp file, safe-mode (AES) messages,",
        f"{args.n} distinct MsgIds, one process. Measured {time.strftime('%Y-%m-%d')}.",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| signature + decrypt + parse + DB dedupe claim | {rate:,.0f} req/s ({verdict}) | ≥ 500 req/s |",
        f"| POST /wechat end to end, instant core: p50 | {p50:.2f} ms ({latency_verdict}) | ≤ 5 ms over Rasa |",
        f"| POST /wechat end to end, instant core: p95 | {p95:.2f} ms | |",
    ])  # fmt: skip
    print(text)
    write_section(text, args.output)


if __name__ == "__main__":
    main()
