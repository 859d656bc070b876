"""Saturation read from a plateau of repeated rounds, not from one lucky maximum."""

from __future__ import annotations

from bench.loadgen.stats import Level, Run, merge, saturation


def run(throughput: float, concurrency: int, errors: int = 0, seconds: float = 10.0) -> Run:
    r = Run("x", concurrency, latencies=[0.05] * round(throughput * seconds), errors=errors, seconds=seconds)
    r.cpu = {"gateway": 0.5}
    return r


def level(concurrency: int, *throughputs: float, errors: int = 0) -> Level:
    return Level("x", concurrency, [run(t, concurrency, errors) for t in throughputs])


def test_a_level_is_the_median_of_its_rounds() -> None:
    lv = level(4, 30.0, 12.0, 29.0)  # one round spoilt by a neighbour
    assert lv.throughput == 29.0 and lv.spread == (12.0, 30.0)
    pooled = lv.pooled
    assert len(pooled.latencies) == 710 and pooled.seconds == 30.0
    assert pooled.cpu_ms_per_msg("gateway") == 1.5 * 1000 / 710


def test_saturation_is_the_median_of_the_plateau_and_its_knee() -> None:
    levels = [level(1, 12.0), level(2, 20.0), level(4, 25.0), level(8, 24.0), level(16, 26.0)]
    sat = saturation(levels)
    assert sat.levels == (4, 8, 16) and sat.knee == 4
    assert sat.throughput == 25.0  # not the single best, 26


def test_a_single_spike_does_not_set_the_plateau_when_the_rounds_disagree() -> None:
    spiky = level(8, 40.0, 22.0, 23.0)  # one lucky round
    sat = saturation([level(4, 24.0, 24.5, 23.5), spiky])
    assert sat.throughput == 23.5 and sat.levels == (4, 8)


def test_levels_with_errors_are_left_out_when_others_qualify() -> None:
    sat = saturation([level(4, 20.0), level(8, 30.0, errors=50)])
    assert sat.levels == (4,) and sat.throughput == 20.0


def test_merge_adds_counts_and_cpu() -> None:
    merged = merge([run(10.0, 2, errors=1), run(20.0, 2)])
    assert merged.count == 301 and merged.errors == 1 and merged.cpu == {"gateway": 1.0}
