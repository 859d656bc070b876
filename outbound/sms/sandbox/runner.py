"""Run the SMS sandbox on a background thread (tests and the benchmark drive the blocking SDKs)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from outbound.sms.sandbox.app import SANDBOX_KEY, SmsSandbox, SmsSandboxSettings, create_sms_sandbox_app


@contextmanager
def sandbox_in_thread(
    settings: SmsSandboxSettings | None = None, host: str = "127.0.0.1", port: int = 0
) -> Iterator[tuple[str, SmsSandbox]]:
    """Yield (base URL, sandbox) while the sandbox serves on ``host``; port 0 = a free port."""
    app = create_sms_sandbox_app(settings)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)
    ready = threading.Event()
    address: list[int] = []

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        address.append(runner.addresses[0][1])
        ready.set()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="sms-sandbox", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("短信沙箱未能启动 (SMS sandbox did not start)")
    try:
        yield f"http://{host}:{address[0]}", app[SANDBOX_KEY]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
