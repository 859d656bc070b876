"""Latency and throughput summaries, and saturation read from a plateau of repeated rounds."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass
class Run:
    """The outcome of one load phase."""

    label: str
    concurrency: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    late: int = 0  # WeChat: answered "success" (deadline missed), reply went through the API
    apologies: int = 0  # answered, but with the "system busy" apology
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per process during the phase

    @property
    def count(self) -> int:
        return len(self.latencies) + self.errors

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(sorted(self.latencies), q)

    @property
    def error_rate(self) -> float:
        return (self.errors + self.late + self.apologies) / self.count if self.count else 0.0

    def cpu_ms_per_msg(self, name: str) -> float:
        return self.cpu.get(name, 0.0) * 1000 / len(self.latencies) if self.latencies else 0.0

    def row(self) -> str:
        return (
            f"| {self.label} | {self.concurrency} | {self.count} | {self.throughput:.1f} | "
            f"{self.p(50) * 1000:.0f} | {self.p(95) * 1000:.0f} | {self.p(99) * 1000:.0f} | "
            f"{self.error_rate:.1%} ({self.errors}/{self.late}/{self.apologies}) |"
        )


HEADER = (
    "| phase | concurrency | messages | msg/s | p50 ms | p95 ms | p99 ms | errors (http/late/apology) |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|"
)


def merge(runs: Sequence[Run], label: str | None = None) -> Run:
    """One run made of several (latencies pooled, counts and seconds and CPU added)."""
    out = Run(label or runs[0].label, runs[0].concurrency)
    for r in runs:
        out.latencies += r.latencies
        out.errors += r.errors
        out.late += r.late
        out.apologies += r.apologies
        out.seconds += r.seconds
        for name, sec in r.cpu.items():
            out.cpu[name] = out.cpu.get(name, 0.0) + sec
    return out


@dataclass
class Level:
    """Every round of one phase at one concurrency: throughput as the median of the rounds (a noisy
    neighbour on the shared cores spoils one round, not the figure), latency from all of them."""

    label: str
    concurrency: int
    runs: list[Run] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return statistics.median(r.throughput for r in self.runs) if self.runs else 0.0

    @property
    def spread(self) -> tuple[float, float]:
        values = [r.throughput for r in self.runs] or [0.0]
        return min(values), max(values)

    @property
    def pooled(self) -> Run:
        return merge(self.runs)

    def row(self, cpu_names: Iterable[str]) -> str:
        pooled = self.pooled
        lo, hi = self.spread
        cpu = " / ".join(f"{pooled.cpu_ms_per_msg(n):.1f}" for n in cpu_names)
        return (
            f"| {self.label} | {self.concurrency} | {len(self.runs)} | **{self.throughput:.1f}** "
            f"({lo:.1f}–{hi:.1f}) | {pooled.p(50) * 1000:.0f} | {pooled.p(95) * 1000:.0f} | "
            f"{pooled.p(99) * 1000:.0f} | {pooled.error_rate:.1%} ({pooled.errors}/{pooled.late}/"
            f"{pooled.apologies}) | {cpu} |"
        )


def level_header(cpu_names: Iterable[str]) -> str:
    names = "/".join(cpu_names)
    return (
        f"| phase | concurrency | rounds | msg/s median (min–max) | p50 ms | p95 ms | p99 ms | "
        f"errors (http/late/apology) | CPU ms per message ({names}) |\n"
        "|---|---:|---:|---:|---:|---:|---:|---|---|"
    )


@dataclass(frozen=True)
class Saturation:
    """Where throughput stops growing: the levels within ``tolerance`` of the best median."""

    throughput: float  # median of the plateau levels' medians
    knee: int  # the lowest concurrency on the plateau
    levels: tuple[int, ...]


def saturation(levels: Sequence[Level], tolerance: float = 0.1) -> Saturation:
    """The plateau of ``levels`` (with at most 1 % errors where any level qualifies).

    A single maximum rewards the luckiest round; the plateau's median does not. If throughput is
    still rising at the highest level, the plateau is just the top and the figure is a lower bound.
    """
    good = [lv for lv in levels if lv.pooled.error_rate <= 0.01] or list(levels)
    if not good:
        return Saturation(0.0, 0, ())
    best = max(lv.throughput for lv in good)
    plateau = [lv for lv in good if lv.throughput >= (1 - tolerance) * best]
    return Saturation(
        statistics.median(lv.throughput for lv in plateau),
        min(lv.concurrency for lv in plateau),
        tuple(sorted(lv.concurrency for lv in plateau)),
    )
