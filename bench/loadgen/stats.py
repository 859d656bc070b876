"""Latency and throughput summaries."""

from __future__ import annotations

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
