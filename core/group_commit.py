"""Group commit: many concurrent callers, one database transaction per round.

A caller submits one request and awaits its own answer, exactly as if it had run its own
transaction; requests that arrive while a round is being written wait for the next round and
go in together. Under load a round holds as many requests as arrived during the previous one
(up to ``max_batch``); a lone caller gets a round of one, with no added wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Req = TypeVar("Req")
Res = TypeVar("Res")


class GroupCommit(Generic[Req, Res]):
    """Runs ``work(requests) -> answers`` (same length, same order) in a worker thread, one round
    at a time. If a round raises, every caller in that round gets the exception."""

    def __init__(self, work: Callable[[Sequence[Req]], Sequence[Res]], max_batch: int = 500) -> None:
        self._work = work
        self._max_batch = max_batch
        self._pending: list[tuple[Req, asyncio.Future[Res]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, request: Req) -> Res:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Res] = loop.create_future()
        if self._runner is not None and not self._runner.done() and self._runner.get_loop() is not loop:
            # Used from a new event loop (the old one was closed mid-round): its callers are gone.
            self._runner = None
            self._pending = [(r, f) for r, f in self._pending if f.get_loop() is loop]
        self._pending.append((request, future))
        if self._runner is None or self._runner.done():
            self._runner = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
            try:
                answers = await asyncio.to_thread(self._work, [request for request, _ in batch])
                if len(answers) != len(batch):
                    raise RuntimeError(f"group commit: {len(answers)} answers for {len(batch)} requests")
            except Exception as exc:  # noqa: BLE001 - handed to every caller of the round
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)
