"""Playwright (async API) driving Debian's chromium; Playwright's own browser download cannot work offline.

The async API keeps the browser on the test's event loop: a session-wide sync browser would leave
a loop running and break async tests collected after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    if not CHROMIUM.exists():  # noqa: ASYNC240 - one stat before the browser starts
        pytest.fail("Debian's chromium is required (apt-get install chromium); make test installs it")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        await b.close()
