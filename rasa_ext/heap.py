"""Keep Rasa's full garbage collections short: freeze the warmed-up heap once.

Once the model, jieba's dictionary and the modules the first turns import lazily are loaded, the
Rasa process holds about 750,000 long-lived Python objects. Every full (generation 2) collection
walks all of them: under load that stopped Rasa's event loop for 0.4–1 s every one to two minutes
(timed with ``gc.callbacks`` during ``bench.load``), which alone pushes p99 latency past a second.
``gc.freeze()`` moves the objects alive at that point to a permanent generation that collections
skip; the same collections then took about 50 ms. It is done once, after ``WARM_TURNS`` saved turns
(the tracker stores call ``after_turn``), not at import: the model is not loaded yet then.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

WARM_TURNS = 50


class HeapFreezer:
    """Counts turns and freezes the heap once, after ``warm_turns`` of them."""

    def __init__(self, warm_turns: int = WARM_TURNS) -> None:
        self.warm_turns = warm_turns
        self.turns = 0
        self.frozen = False

    def after_turn(self) -> None:
        if self.frozen:
            return
        self.turns += 1
        if self.turns < self.warm_turns:
            return
        gc.collect()  # garbage now is freed, not frozen
        gc.freeze()
        self.frozen = True
        log.info("gc: %d warmed-up objects moved out of the collector's way", gc.get_freeze_count())


FREEZER = HeapFreezer()
after_turn = FREEZER.after_turn
