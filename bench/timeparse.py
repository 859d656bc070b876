"""Time-expression parser benchmark (``python -m bench.timeparse`` / ``make bench-timeparse``).

Scores ``crm.timeparse`` on ``bench/data/timeparse_blind.tsv``, a blind set written by a helper
session (2026-12-07) without reading the parser or its golden set: how rural customers name days
and periods (礼拜天, 大后天, 腊月二十三, 上上个月, 前半年, traditional characters, full-width digits),
with "today" fixed at Monday 2026-12-07. Each row is ``kind  phrase  start  [end]``: ``range`` rows go
through ``parse_range``, ``past`` through ``parse_date(prefer_future=False)``, ``date`` through
``parse_date`` (appointments); ``none`` means no day can be pinned down. Then the
``## Time expressions (make bench-timeparse)`` section of BENCHMARKS.md is rewritten.

    python -m bench.timeparse [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.report import replace_section, tsv_rows
from crm.timeparse import parse_date, parse_range

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data" / "timeparse_blind.tsv"
SECTION = "## Time expressions (make bench-timeparse)"
TODAY = dt.date(2026, 12, 7)
# The first score, taken before the parser was changed with this set in view (its misses then joined the golden set).
FIRST_SCORE = "0.723 (185/256: date 78/114, past 28/46, range 79/96) on 2026-12-07, before the fixes"


@dataclass(frozen=True)
class Result:
    by_kind: dict[str, tuple[int, int]]  # kind -> (correct, cases)
    wrong: list[tuple[str, str, str, str]]  # kind, phrase, wanted, got

    @property
    def cases(self) -> int:
        return sum(n for _c, n in self.by_kind.values())

    @property
    def correct(self) -> int:
        return sum(c for c, _n in self.by_kind.values())

    @property
    def accuracy(self) -> float:
        return self.correct / self.cases if self.cases else 0.0


def rows(path: Path = DATA) -> list[tuple[str, str, str, str]]:
    found = []
    for _n, row in tsv_rows(path.read_text(encoding="utf-8").splitlines()):
        kind, phrase, start, *end = row
        found.append((kind, phrase, start, end[0] if end else start))
    return found


def outcome(kind: str, phrase: str, today: dt.date = TODAY) -> str:
    if kind == "range":
        got = parse_range(phrase, today)
        return f"{got.start.isoformat()}..{got.end.isoformat()}"
    day = parse_date(phrase, today, prefer_future=(kind == "date"))
    return day.isoformat() if day else "none"


def measure(path: Path = DATA) -> Result:
    seen: Counter[str] = Counter()
    right: Counter[str] = Counter()
    wrong = []
    for kind, phrase, start, end in rows(path):
        want = f"{start}..{end}" if kind == "range" else start
        got = outcome(kind, phrase)
        seen[kind] += 1
        if got == want:
            right[kind] += 1
        else:
            wrong.append((kind, phrase, want, got))
    return Result({k: (right[k], n) for k, n in seen.items()}, wrong)


def line(result: Result) -> str:
    parts = ", ".join(f"{k} {c}/{n}" for k, (c, n) in sorted(result.by_kind.items()))
    return f"time parser: {result.accuracy:.3f} on {result.cases} blind expressions ({parts})"


def markdown(result: Result) -> str:
    parts = "; ".join(f"{k} {c}/{n}" for k, (c, n) in sorted(result.by_kind.items()))
    missed = ", ".join(f"{p} ({k}: {w} → {g})" for k, p, w, g in result.wrong[:12]) or "none"
    return f"""{SECTION}

Blind set `bench/data/timeparse_blind.tsv` ({result.cases} expressions written without reading
`crm/timeparse.py` or its golden set; today = Monday 2026-12-07), scored through `parse_range` (range),
`parse_date(prefer_future=False)` (past) and `parse_date` (date).

| measure | result |
|---|---|
| exact answers | **{result.accuracy:.3f}** ({result.correct}/{result.cases}; {parts}) |
| first score | {FIRST_SCORE} |
| misses ({len(result.wrong)}) | {missed}{" …" if len(result.wrong) > 12 else ""} |
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args()
    result = measure()
    print(line(result))
    for kind, phrase, want, got in result.wrong:
        print(f"  miss: {kind} {phrase!r}: want {want}, got {got}")
    if not args.no_write:
        replace_section(markdown(result))


if __name__ == "__main__":
    main()
