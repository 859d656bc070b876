"""The bank's calendar: festivals, statutory holidays, adjusted workdays and branch hours.

Lunar festivals come from lunar-python, statutory holidays and 调休 workdays from
chinesecalendar. chinesecalendar only knows the years the State Council has published; for
other years we fall back to "weekends are rest days" and say so (``DayInfo.source``), because a
wrong holiday notice is worse than none.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import chinese_calendar
from chinese_calendar import constants as cc_constants
from lunar_python import Lunar

# code -> (Chinese name, lunar month, lunar day)
LUNAR_FESTIVALS: dict[str, tuple[str, int, int]] = {
    "spring_festival": ("春节", 1, 1),
    "lantern": ("元宵节", 1, 15),
    "dragon_boat": ("端午节", 5, 5),
    "mid_autumn": ("中秋节", 8, 15),
    "double_ninth": ("重阳节", 9, 9),
}
# code -> (Chinese name, month, day)
SOLAR_FESTIVALS: dict[str, tuple[str, int, int]] = {
    "new_year": ("元旦", 1, 1),
    "national_day": ("国庆节", 10, 1),
}
# chinesecalendar's English holiday names -> the names customers know.
HOLIDAY_NAMES_ZH: dict[str, str] = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争胜利70周年纪念日",
}


@dataclass(frozen=True)
class Festival:
    code: str
    name: str
    date: dt.date
    lunar: bool


@dataclass(frozen=True)
class DayInfo:
    """Whether ``date`` is a working day. ``source`` is ``official`` or ``weekend_fallback``."""

    date: dt.date
    is_workday: bool
    holiday_name: str | None  # Chinese name when a statutory holiday
    adjusted_workday: bool  # a weekend day made a workday (调休上班)
    source: str


@dataclass(frozen=True)
class HolidayPeriod:
    """A run of consecutive rest days around a statutory holiday, with its make-up workdays."""

    name: str
    start: dt.date
    end: dt.date
    adjusted_workdays: tuple[dt.date, ...]

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def festival_dates(year: int) -> list[Festival]:
    """All greeting festivals that fall in solar ``year``, in date order."""
    out: list[Festival] = []
    for code, (name, month, day) in LUNAR_FESTIVALS.items():
        solar = Lunar.fromYmd(year, month, day).getSolar()
        out.append(Festival(code, name, dt.date(solar.getYear(), solar.getMonth(), solar.getDay()), True))
    for code, (name, month, day) in SOLAR_FESTIVALS.items():
        out.append(Festival(code, name, dt.date(year, month, day), False))
    return sorted(out, key=lambda f: f.date)


def festivals_on(day: dt.date) -> list[Festival]:
    """Festivals on ``day`` (usually none, sometimes two: 国庆 and 中秋 can coincide)."""
    return [f for f in festival_dates(day.year) if f.date == day]


def is_supported_year(year: int) -> bool:
    """True when chinesecalendar has the official schedule for ``year``."""
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def day_info(day: dt.date) -> DayInfo:
    """Workday/holiday status of ``day``; weekends-only fallback for unknown years."""
    try:
        is_workday = chinese_calendar.is_workday(day)
        _, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return DayInfo(day, day.weekday() < 5, None, False, "weekend_fallback")
    in_lieu = day in cc_constants.workdays
    zh = HOLIDAY_NAMES_ZH.get(name, name) if (name and not is_workday and not in_lieu) else None
    return DayInfo(day, is_workday, zh, is_workday and day.weekday() >= 5, "official")


def holiday_periods(year: int) -> list[HolidayPeriod]:
    """Statutory holiday periods that start in ``year`` (empty for years chinesecalendar lacks).

    A period is the maximal run of rest days containing a named holiday, so 国庆 with its
    adjoining weekend reads "10月1日至10月8日"; make-up workdays within three weeks are attached.
    """
    if not is_supported_year(year):
        return []
    named = sorted(d for d in cc_constants.holidays if d.year == year)
    periods: list[HolidayPeriod] = []
    seen: set[dt.date] = set()
    for d in named:
        if d in seen or chinese_calendar.is_workday(d):
            continue
        start = end = d
        while _is_rest(start - dt.timedelta(days=1)):
            start -= dt.timedelta(days=1)
        while _is_rest(end + dt.timedelta(days=1)):
            end += dt.timedelta(days=1)
        span = {start + dt.timedelta(days=i) for i in range((end - start).days + 1)}
        seen |= span
        name = HOLIDAY_NAMES_ZH.get(cc_constants.holidays[d], cc_constants.holidays[d])
        window = dt.timedelta(days=21)
        adjusted = tuple(
            sorted(
                w
                for w, wname in cc_constants.workdays.items()
                if start - window <= w <= end + window and HOLIDAY_NAMES_ZH.get(wname, wname) == name
            )
        )
        if start.year == year:
            periods.append(HolidayPeriod(name, start, end, adjusted))
    return periods


def _is_rest(day: dt.date) -> bool:
    try:
        return not chinese_calendar.is_workday(day)
    except NotImplementedError:
        return day.weekday() >= 5


def branch_hours(opening_hours: Mapping[str, Any], day: dt.date) -> tuple[str, str] | None:
    """Opening hours of a branch on ``day``, or ``None`` when it is closed.

    ``opening_hours`` is the Branch JSON: ``{"weekday": [open, close], "weekend": [...] | null,
    "holiday": [...] | null}``. Statutory holidays use ``holiday`` when given, else the weekend
    hours (rural branches usually keep weekend service); 调休 workdays use weekday hours.
    """
    info = day_info(day)
    if info.holiday_name is not None:
        hours = opening_hours.get("holiday", opening_hours.get("weekend"))
    elif info.is_workday:
        hours = opening_hours.get("weekday")
    else:
        hours = opening_hours.get("weekend")
    if not hours:
        return None
    return str(hours[0]), str(hours[1])


def is_branch_open(opening_hours: Mapping[str, Any], day: dt.date) -> bool:
    """True when the branch opens at all on ``day``."""
    return branch_hours(opening_hours, day) is not None
