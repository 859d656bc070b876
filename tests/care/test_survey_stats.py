"""Survey statistics against values worked out by hand or in the literature."""

from __future__ import annotations

import math

import pytest

from care.survey_stats import csat, nps, wilson


def test_wilson_matches_known_intervals() -> None:
    # Newcombe (1998), Table I: 81/263 → 0.2553–0.3662; 15/148 → 0.0624–0.1605; 0/20 → 0–0.1611.
    assert wilson(81, 263).low == pytest.approx(0.2553, abs=5e-4)
    assert wilson(81, 263).high == pytest.approx(0.3662, abs=5e-4)
    assert wilson(15, 148).low == pytest.approx(0.0624, abs=5e-4)
    assert wilson(15, 148).high == pytest.approx(0.1605, abs=5e-4)
    assert wilson(0, 20).low == 0.0
    assert wilson(0, 20).high == pytest.approx(0.1611, abs=5e-4)


def test_wilson_stays_in_bounds_and_covers_the_point() -> None:
    for k, n in [(0, 1), (1, 1), (5, 10), (10, 10), (1, 1000)]:
        ci = wilson(k, n)
        assert 0.0 <= ci.low <= k / n <= ci.high <= 1.0
    assert (wilson(0, 0).low, wilson(0, 0).high) == (0.0, 1.0)


def test_nps_counts_and_bootstrap_interval_near_the_normal_approximation() -> None:
    # 100 promoters, 60 passives, 40 detractors: NPS = 30; the delta-method standard error is
    # sqrt((p+ + p- − (p+ − p-)²) / n) = sqrt((0.5 + 0.2 − 0.09) / 200) = 5.52 points → 30 ± 10.8.
    scores = [10] * 60 + [9] * 40 + [8] * 30 + [7] * 30 + [6] * 20 + [2] * 20
    result = nps(scores)
    assert result is not None
    assert (result.n, result.promoters, result.passives, result.detractors) == (200, 100, 60, 40)
    assert result.nps == pytest.approx(30.0)
    se = 100 * math.sqrt((0.5 + 0.2 - 0.09) / 200)
    assert result.ci.low == pytest.approx(30 - 1.96 * se, abs=1.5)
    assert result.ci.high == pytest.approx(30 + 1.96 * se, abs=1.5)
    assert nps(scores) == result  # fixed seed: the same report every time


def test_nps_degenerate_samples() -> None:
    assert nps([]) is None
    all_promoters = nps([9, 10, 10])
    assert all_promoters is not None and all_promoters.nps == 100.0
    assert (all_promoters.ci.low, all_promoters.ci.high) == (100.0, 100.0)
    one_detractor = nps([3])
    assert one_detractor is not None and one_detractor.nps == -100.0


def test_csat_mean_and_share_satisfied() -> None:
    scores = [5] * 30 + [4] * 40 + [3] * 20 + [2] * 6 + [1] * 4
    result = csat(scores)
    assert result is not None
    assert result.mean == pytest.approx(3.86)
    # sample sd = 1.0346…, standard error 0.1035 → 3.86 ± 0.20
    assert result.mean_ci.low == pytest.approx(3.86 - 0.203, abs=0.03)
    assert result.mean_ci.high == pytest.approx(3.86 + 0.203, abs=0.03)
    assert result.satisfied == 70 and result.satisfied_share == pytest.approx(0.7)
    # Wilson 70/100: 0.6041–0.7810
    assert result.satisfied_ci.low == pytest.approx(0.6041, abs=5e-4)
    assert result.satisfied_ci.high == pytest.approx(0.7810, abs=5e-4)
    assert result.distribution == {1: 4, 2: 6, 3: 20, 4: 40, 5: 30}
