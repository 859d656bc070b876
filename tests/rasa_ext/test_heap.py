"""The warmed-up heap is frozen once, after the first turns, and never before."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from rasa_ext.heap import HeapFreezer


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test session collects as usual


def test_freezes_once_after_the_warm_turns(unfrozen: None) -> None:
    freezer = HeapFreezer(warm_turns=3)
    freezer.after_turn()
    freezer.after_turn()
    assert not freezer.frozen and gc.get_freeze_count() == 0
    freezer.after_turn()
    assert freezer.frozen
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # this test process's live objects
    freezer.after_turn()
    assert gc.get_freeze_count() == frozen and freezer.turns == 3  # nothing more after the first time
