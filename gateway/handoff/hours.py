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
