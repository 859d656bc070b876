"""The machine's 1-minute load average, sampled while a benchmark runs (the 2 cores are shared)."""

from __future__ import annotations

import asyncio
import os
import statistics
from types import TracebackType


class LoadSampler:
    """``async with LoadSampler() as load:`` samples every ``every_s`` seconds until the block ends."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            await asyncio.sleep(self.every_s)

    async def __aenter__(self) -> LoadSampler:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> str:
        """``min / median / max`` of the samples so far."""
        if not self.samples:
            return "n/a"
        s = self.samples
        return f"{min(s):.1f} / {statistics.median(s):.1f} / {max(s):.1f}"
