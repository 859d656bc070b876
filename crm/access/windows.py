"""The time window of a branch booking (``Appointment.time_window``): what it is, when it is, in order.

A window is 上午 or 下午 (the half of the day the customer asked for), or one hour "09:00-10:00";
None means any time the branch is open that day. The half-day words are kept as the customer said
them: their clock times follow the branch's hours on the day (a booking moved to a Saturday opens
when the branch opens on Saturdays). Hour windows are zero-padded, so they compare as text.
"""

from __future__ import annotations

import re

MORNING = "上午"
AFTERNOON = "下午"
MORNING_ENDS = "11:30"
AFTERNOON_STARTS = "13:30"
NOON = "12:00"
HOUR_WINDOW = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$")


def window_for(period: str | None, hours: tuple[str, str] | None) -> str | None:
    """The window to store for what the customer said (``actions.normalise.visit_period``: 上午, 下午,
    or an hour "9"/"15"), or None when it says nothing usable on a day with these ``hours``."""
    if not period:
        return None
    if period in (MORNING, AFTERNOON) or HOUR_WINDOW.match(period):
        return period if window_times(period, hours) is not None else None
    if not period.isdigit() or hours is None:
        return None
    hour = int(period)
    start, end = f"{hour:02d}:00", f"{hour + 1:02d}:00"
    opens, closes = hours
    if not opens <= start < closes:
        return None
    return f"{start}-{min(end, closes)}"


def window_times(window: str | None, hours: tuple[str, str] | None) -> tuple[str, str] | None:
    """Clock times of ``window`` on a day with these opening ``hours``; None when it does not fit
    (the branch is closed, or opens only after the morning is over)."""
    if window is None:
        return hours
    if window == MORNING:
        if hours is None:
            return None
        return (hours[0], min(MORNING_ENDS, hours[1])) if hours[0] < MORNING_ENDS else None
    if window == AFTERNOON:
        if hours is None:
            return None
        return (max(AFTERNOON_STARTS, hours[0]), hours[1]) if hours[1] > AFTERNOON_STARTS else None
    if not HOUR_WINDOW.match(window):
        return None
    start, end = window.split("-")
    if hours is not None and not hours[0] <= start < hours[1]:
        return None
    return start, end


def half_of(window: str | None) -> str | None:
    """上午 or 下午: the half of the day a window belongs to (what a branch's per-window limit counts);
    None for a whole-day booking."""
    if window is None:
        return None
    if window in (MORNING, AFTERNOON):
        return window
    return MORNING if window < NOON else AFTERNOON


def window_sort_key(window: str | None) -> str:
    """Orders the bookings of one day: whole day first, then by start (上午 at the start of the
    morning, 下午 at noon, hours by their start)."""
    if window is None:
        return ""
    if window == MORNING:
        return "00:00"
    if window == AFTERNOON:
        return NOON
    return window


__all__ = [
    "AFTERNOON",
    "MORNING",
    "half_of",
    "window_for",
    "window_sort_key",
    "window_times",
]
