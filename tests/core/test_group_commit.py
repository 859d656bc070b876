"""Group commit: concurrent callers share rounds, each gets its own answer (or the round's error)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from core.group_commit import GroupCommit


class Work:
    def __init__(self, fail_on: int | None = None) -> None:
        self.rounds: list[list[int]] = []
        self.fail_on = fail_on
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, requests: Sequence[int]) -> list[int]:
        self.gate.wait(5)
        self.rounds.append(list(requests))
        if self.fail_on in requests:
            raise ValueError("round failed")
        return [r * 10 for r in requests]


async def test_a_lone_caller_gets_a_round_of_its_own() -> None:
    work = Work()
    assert await GroupCommit(work).submit(7) == 70
    assert work.rounds == [[7]]


async def test_callers_arriving_during_a_round_share_the_next_one() -> None:
    work = Work()
    commit: GroupCommit[int, int] = GroupCommit(work, max_batch=3)
    work.gate.clear()  # the first round is slow: everyone else queues behind it
    first = asyncio.create_task(commit.submit(0))
    await asyncio.sleep(0.05)
    rest = [asyncio.create_task(commit.submit(i)) for i in range(1, 6)]
    await asyncio.sleep(0.05)
    work.gate.set()
    assert await first == 0 and [await t for t in rest] == [10, 20, 30, 40, 50]
    assert work.rounds == [[0], [1, 2, 3], [4, 5]]


async def test_a_failed_round_fails_its_callers_only() -> None:
    work = Work(fail_on=2)
    commit: GroupCommit[int, int] = GroupCommit(work)
    work.gate.clear()
    first = asyncio.create_task(commit.submit(1))
    await asyncio.sleep(0.05)
    second, third = asyncio.create_task(commit.submit(2)), asyncio.create_task(commit.submit(3))
    await asyncio.sleep(0.05)
    work.gate.set()
    assert await first == 10
    for task in (second, third):
        with pytest.raises(ValueError, match="round failed"):
            await task
    assert await commit.submit(4) == 40  # the next round is fine


def test_usable_from_a_new_event_loop() -> None:
    work = Work()
    commit: GroupCommit[int, int] = GroupCommit(work)
    assert asyncio.run(commit.submit(1)) == 10
    assert asyncio.run(commit.submit(2)) == 20
