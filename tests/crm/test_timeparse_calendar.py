"""Lunar dates, festivals, spoken day names and spans customers use, on dates worked out by hand.

Today is Monday 2026-12-07 (lunar 十月廿九) unless a test says otherwise; the lunar dates were
written by hand from the 2026/2027 lunar calendar (春节 2027 = 2027-02-06, 中秋 2026 = 2026-09-25).
"""

from __future__ import annotations

import datetime as dt

import pytest

from crm.timeparse import parse_date, parse_range

TODAY = dt.date(2026, 12, 7)


@pytest.mark.parametrize(
    ("phrase", "future", "past"),
    [
        ("元宵节", "2027-02-20", "2026-03-03"),
        ("腊月廿三", "2027-01-30", "2026-02-10"),
        ("老历八月十五", "2027-09-15", "2026-09-25"),
        ("七夕", "2027-08-08", "2026-08-19"),
        ("年三十晚上", "2027-02-05", "2026-02-16"),
        ("清明节", "2027-04-05", "2026-04-05"),
        ("圣诞节", "2026-12-25", "2025-12-25"),
    ],
)
def test_festivals_go_to_the_nearest_side(phrase: str, future: str, past: str) -> None:
    assert str(parse_date(phrase, TODAY)) == future
    assert str(parse_date(phrase, TODAY, prefer_future=False)) == past


def test_a_gregorian_month_and_day_stays_gregorian() -> None:
    assert parse_date("十二月二十号", TODAY) == dt.date(2026, 12, 20)
    assert parse_date("3月5号", TODAY) == dt.date(2027, 3, 5)


def test_vague_times_around_a_festival_name_no_day() -> None:
    for phrase in ("中秋前", "元旦以后", "过完年", "腊八之前"):
        assert parse_date(phrase, TODAY) is None, phrase


def test_first_working_day_after_a_statutory_holiday() -> None:
    assert parse_date("春节后第一天上班", TODAY, prefer_future=False) == dt.date(2026, 2, 24)


def test_spoken_names_and_relative_weeks() -> None:
    assert parse_date("明儿个下午", TODAY) == dt.date(2026, 12, 8)
    assert parse_date("夜儿个", TODAY, prefer_future=False) == dt.date(2026, 12, 6)
    assert parse_date("兩週後", TODAY) == dt.date(2026, 12, 21)
    assert parse_date("三个月以前", TODAY, prefer_future=False) == dt.date(2026, 9, 7)
    assert parse_date("12/31", TODAY) == dt.date(2026, 12, 31)


@pytest.mark.parametrize(
    ("phrase", "start", "end"),
    [
        ("去年夏天的流水", "2025-06-01", "2025-08-31"),
        ("秋天", "2026-09-01", "2026-11-30"),
        ("春节以后", "2026-02-24", "2026-12-07"),
        ("前年3月到5月", "2024-03-01", "2024-05-31"),
        ("5到8月", "2026-05-01", "2026-08-31"),
        ("11月1号以来", "2026-11-01", "2026-12-07"),
        ("上上个月跟上个月", "2026-10-01", "2026-11-30"),
        ("10月20号到月底", "2026-10-20", "2026-10-31"),
        ("2025.11", "2025-11-01", "2025-11-30"),
    ],
)
def test_ranges(phrase: str, start: str, end: str) -> None:
    got = parse_range(phrase, TODAY)
    assert (str(got.start), str(got.end)) == (start, end)


def test_a_day_said_without_hao_and_a_lunar_day_in_a_statement_period() -> None:
    assert parse_date("12月15下午", TODAY) == dt.date(2026, 12, 15)
    assert parse_date("八月15", TODAY) == dt.date(2027, 8, 15)  # digits: the solar calendar
    got = parse_range("十月初一", TODAY)  # 寒衣节, lunar: 2026-11-09, not the whole of October
    assert (got.start, got.end) == (dt.date(2026, 11, 9), dt.date(2026, 11, 9))
