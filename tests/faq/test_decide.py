"""What the bot offers when it is not sure: only candidates scoring at least the calibrated ``low``."""

from __future__ import annotations

from faq.calibrate import Thresholds
from faq.matcher import Match
from faq.service import choices, decide


def _match(i: int, score: float) -> Match:
    return Match(i, f"问题{i}", f"答案{i}", score)


def test_grey_zone_offers_only_candidates_above_low() -> None:
    t = Thresholds(high=0.6, low=0.1)
    matches = [_match(1, 0.4), _match(2, 0.25), _match(3, 0.03)]
    assert decide(matches, t) == "choose"
    assert [m.point_id for m in choices(matches, t)] == [1, 2]


def test_the_best_candidate_is_always_offered_and_order_kept() -> None:
    t = Thresholds(high=0.6, low=0.1)
    matches = [_match(5, 0.1), _match(6, 0.0999), _match(7, 0.01)]
    assert [m.point_id for m in choices(matches, t)] == [5]
    t0 = Thresholds(high=0.6, low=0.0)
    assert [m.point_id for m in choices(matches, t0)] == [5, 6, 7]
