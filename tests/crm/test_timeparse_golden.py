"""The time parser against a golden set of Chinese time expressions (hand-written) and generated families.

The hand-written set (``timeparse_golden.tsv``) fixes "today" at Monday 2026-12-07; the generated families
compute their expectations with ``dateutil`` and ``calendar``, not with the parser's own helpers.
"""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path

import pytest
from dateutil.relativedelta import relativedelta

from crm.timeparse import parse_date, parse_range

TODAY = dt.date(2026, 12, 7)
GOLDEN = Path(__file__).with_name("timeparse_golden.tsv")
CN = "零一二三四五六七八九"


def to_cn(n: int) -> str:
    tens, ones = divmod(n, 10)
    if n < 10:
        return CN[n]
    return ("十" if tens == 1 else CN[tens] + "十") + (CN[ones] if ones else "")


def golden_rows() -> list[tuple[str, str, str, str]]:
    rows = []
    for line in GOLDEN.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        kind, phrase, start, *end = line.split("\t")
        rows.append((kind, phrase, start, end[0] if end else start))
    return rows


def generated_rows() -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    for n in range(1, 31):
        start = (TODAY - dt.timedelta(days=n - 1)).isoformat()
        for prefix in ("最近", "近", "过去"):
            rows.append(("range", f"{prefix}{n}天", start, TODAY.isoformat()))
            rows.append(("range", f"{prefix}{to_cn(n)}天", start, TODAY.isoformat()))
    for n in range(1, 13):
        start = (TODAY - relativedelta(months=n) + dt.timedelta(days=1)).isoformat()
        rows.append(("range", f"最近{to_cn(n)}个月", start, TODAY.isoformat()))
        rows.append(("range", f"近{n}个月", start, TODAY.isoformat()))
    for year in (2024, 2025):
        spelt = "".join("〇一二三四五六七八九"[int(c)] for c in str(year))
        for month in range(1, 13):
            last = calendar.monthrange(year, month)[1]
            first, end = dt.date(year, month, 1).isoformat(), dt.date(year, month, last).isoformat()
            rows.append(("range", f"{year}年{month}月", first, end))
            rows.append(("range", f"{spelt}年{to_cn(month)}月份", first, end))
            rows.append(("range", f"{year}年{month}月{last}日", end, end))
    return rows


CASES = golden_rows() + generated_rows()


def test_the_golden_set_is_large() -> None:
    assert len(golden_rows()) >= 150 and len(CASES) >= 400


@pytest.mark.parametrize(("kind", "phrase", "start", "end"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_golden(kind: str, phrase: str, start: str, end: str) -> None:
    if kind == "range":
        got = parse_range(phrase, TODAY)
        assert (got.start.isoformat(), got.end.isoformat()) == (start, end)
    else:
        day = parse_date(phrase, TODAY, prefer_future=(kind == "date"))
        assert (day.isoformat() if day else "none") == start
