"""Property tests: Chinese time phrases become sensible concrete date ranges."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from crm.timeparse import DEFAULT_DAYS, SHANGHAI, cn_number, parse_date, parse_range

days = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 31))
CN = "零一二三四五六七八九"


def to_cn(n: int) -> str:
    """Independent spelling of 1..99 the way customers type it (十五, 二十三)."""
    tens, ones = divmod(n, 10)
    head = "" if tens == 0 else ("十" if tens == 1 else CN[tens] + "十")
    return head + (CN[ones] if ones else "") if n >= 10 else CN[n]


@given(st.integers(min_value=1, max_value=99))
def test_cn_numbers_round_trip(n: int) -> None:
    assert cn_number(to_cn(n)) == n
    assert cn_number(str(n)) == n


@given(days, st.text(max_size=12))
def test_any_phrase_gives_a_past_range(today: dt.date, phrase: str) -> None:
    r = parse_range(phrase, today)
    assert r.start <= r.end <= today
    lo, hi = r.utc_bounds()
    assert lo.tzinfo is not None and (hi - lo).days == r.days


@given(days, st.integers(min_value=1, max_value=99), st.sampled_from(["最近", "近", "过去"]), st.booleans())
def test_recent_n_days(today: dt.date, n: int, prefix: str, chinese: bool) -> None:
    r = parse_range(f"{prefix}{to_cn(n) if chinese else n}天", today)
    assert r.end == today and r.days == n


@given(days)
def test_last_month_is_the_whole_previous_month(today: dt.date) -> None:
    r = parse_range("上个月", today)
    assert r.start.day == 1 and (r.end + dt.timedelta(days=1)).day == 1
    assert r.end < today.replace(day=1) and (r.end + dt.timedelta(days=1)) == today.replace(day=1)


@given(days)
def test_last_week_is_monday_to_sunday_before_this_week(today: dt.date) -> None:
    r = parse_range("上周", today)
    assert r.start.weekday() == 0 and r.days == 7
    assert r.end < today and (today - r.end).days <= 7


@given(days)
def test_this_year_and_default(today: dt.date) -> None:
    r = parse_range("今年", today)
    assert r.start == dt.date(today.year, 1, 1) and r.end == today
    default = parse_range("", today)
    assert default.end == today and default.days == DEFAULT_DAYS


@given(days, st.integers(min_value=1, max_value=12), st.integers(min_value=1, max_value=28))
def test_month_day_dates(today: dt.date, month: int, day: int) -> None:
    future = parse_date(f"{month}月{day}号", today)
    past = parse_date(f"{to_cn(month)}月{to_cn(day)}日", today, prefer_future=False)
    assert future is not None and past is not None
    assert (future.month, future.day) == (month, day) == (past.month, past.day)
    # Within a year (366 days: from 29 February the same date next year does not exist).
    assert 0 <= (future - today).days <= 366
    assert past <= today


@given(days, st.sampled_from(list("一二三四五六日")))
def test_next_week_day(today: dt.date, wd: str) -> None:
    d = parse_date(f"下周{wd}", today)
    assert d is not None and d.weekday() == "一二三四五六日".index(wd)
    assert 1 <= (d - today).days <= 13


def test_relative_days_are_in_shanghai() -> None:
    # 23:30 UTC on 31 Dec is already 1 Jan in Shanghai.
    from crm.timeparse import today_in_shanghai

    now = dt.datetime(2024, 12, 31, 23, 30, tzinfo=dt.UTC)
    assert today_in_shanghai(now) == dt.date(2025, 1, 1)
    assert now.astimezone(SHANGHAI).date() == dt.date(2025, 1, 1)
