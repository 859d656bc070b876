"""Working hours: weekdays within the configured times, minus statutory holidays, plus make-up workdays."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar

from gateway.handoff.settings import HandoffSettings


def is_workday(day: dt.date) -> bool:
    """China's official calendar (holidays and 调休 make-up days); plain weekday rule for unknown years."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # chinesecalendar only knows the years the State Council has published.
        return day.weekday() < 5


def is_working_time(now: dt.datetime, settings: HandoffSettings) -> bool:
    """Whether RMs are expected at their desks at ``now`` (an aware datetime)."""
    if now.tzinfo is None:
        raise ValueError("naive datetime")
    local = now.astimezone(ZoneInfo(settings.timezone))
    start, end = settings.hours()
    return is_workday(local.date()) and start <= local.time().replace(tzinfo=None) < end


def hours_text(settings: HandoffSettings) -> str:
    return f"工作日 {settings.work_start}–{settings.work_end}（法定节假日除外）"


_WEEKDAYS = "一二三四五六日"


def next_work_start(now: dt.datetime, settings: HandoffSettings) -> str:
    """When RMs are next at their desks, as customers say it: "今天 08:30", "明天 08:30", "12月9日（周一）08:30"."""
    local = now.astimezone(ZoneInfo(settings.timezone))
    start, _ = settings.hours()
    day = local.date()
    if not (is_workday(day) and local.time().replace(tzinfo=None) < start):
        day += dt.timedelta(days=1)
        for _ in range(40):  # the longest holiday run is well under 40 days
            if is_workday(day):
                break
            day += dt.timedelta(days=1)
    clock = settings.work_start
    if day == local.date():
        return f"今天 {clock}"
    if day == local.date() + dt.timedelta(days=1):
        return f"明天 {clock}"
    return f"{day.month}月{day.day}日（周{_WEEKDAYS[day.weekday()]}）{clock}"
