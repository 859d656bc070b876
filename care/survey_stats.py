"""Survey statistics with 95 % confidence intervals.

- Proportions (% satisfied, response rate): the **Wilson score interval** — it stays inside [0, 1]
  and keeps its coverage for small samples and for shares near 0 or 1, where the textbook
  (Wald) interval collapses to a point.
- NPS (% promoters − % detractors, in points) and the CSAT mean: a **percentile bootstrap** with a
  fixed seed (so a report is the same every time it is drawn). Both are functions of the counts
  per answer value, so one bootstrap sample is one multinomial draw of those counts.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Z95 = 1.959963984540054
BOOTSTRAP_SAMPLES = 4000
SEED = 20261207


@dataclass(frozen=True)
class Interval:
    low: float
    high: float


def wilson(successes: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval of a proportion (both ends in [0, 1]); (0, 1) when n = 0."""
    if n <= 0:
        return Interval(0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 or n the exact end is 0 or 1; floating point would leave 0.9999999999999999.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(low, high)


def _bootstrap(counts: list[int], values: list[float], samples: int, seed: int) -> tuple[float, float]:
    """2.5 % and 97.5 % percentiles of the mean of ``values`` under multinomial resampling."""
    n = sum(counts)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, np.array(counts, dtype=float) / n, size=samples)
    means = draws @ np.array(values, dtype=float) / n
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


@dataclass(frozen=True)
class NpsResult:
    n: int
    promoters: int  # 9–10
    passives: int  # 7–8
    detractors: int  # 0–6
    nps: float  # points, −100 … 100
    ci: Interval

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def nps(scores: Iterable[int], samples: int = BOOTSTRAP_SAMPLES, seed: int = SEED) -> NpsResult | None:
    """NPS of 0–10 scores with a bootstrap 95 % interval; None without scores."""
    values = list(scores)
    if not values:
        return None
    pro = sum(1 for v in values if v >= 9)
    det = sum(1 for v in values if v <= 6)
    n = len(values)
    point = 100.0 * (pro - det) / n
    if pro == n or det == n or (pro == 0 and det == 0):
        ci = Interval(point, point)  # every resample is the same
    else:
        low, high = _bootstrap([pro, n - pro - det, det], [100.0, 0.0, -100.0], samples, seed)
        ci = Interval(low, high)
    return NpsResult(n, pro, n - pro - det, det, point, ci)


@dataclass(frozen=True)
class CsatResult:
    n: int
    mean: float  # 1–5
    mean_ci: Interval  # bootstrap
    satisfied: int  # 4 or 5
    satisfied_share: float
    satisfied_ci: Interval  # Wilson
    distribution: dict[int, int]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["distribution"] = {str(k): v for k, v in self.distribution.items()}
        return out


def csat(scores: Iterable[int], samples: int = BOOTSTRAP_SAMPLES, seed: int = SEED) -> CsatResult | None:
    """Mean CSAT (bootstrap interval) and the share satisfied, 4 or 5 (Wilson interval)."""
    values = list(scores)
    if not values:
        return None
    n = len(values)
    dist = Counter(values)
    mean = sum(values) / n
    if len(dist) == 1:
        mean_ci = Interval(mean, mean)
    else:
        keys = sorted(dist)
        mean_ci = Interval(*_bootstrap([dist[k] for k in keys], [float(k) for k in keys], samples, seed))
    satisfied = sum(1 for v in values if v >= 4)
    return CsatResult(
        n, mean, mean_ci, satisfied, satisfied / n, wilson(satisfied, n), {k: dist.get(k, 0) for k in range(1, 6)}
    )
