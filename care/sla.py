"""Working-day service levels of the work queue (工单): when a ticket is due (#21).

Counted in working days of the statutory calendar (``care.calendar``: holidays and 调休 make-up
Saturdays from chinesecalendar), so a complaint filed on the eve of 国庆 is due on the first
working day after it, not on a holiday. A ticket is due at the close of business of its last day.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from care.calendar import day_info

# Working days to act on each kind: complaints and left messages are acknowledged within one.
WORKING_DAYS: dict[str, int] = {
    "complaint": 1,
    "message": 1,
    "callback": 1,
    "loss_report": 2,
}
CLOSE_OF_BUSINESS = dt.time(17, 30)
APPOINTMENT_START = dt.time(9, 0)


def add_working_days(day: dt.date, n: int) -> dt.date:
    """The ``n``-th working day after ``day`` (``day`` itself does not count)."""
    current = day
    left = n
    while left > 0:
        current += dt.timedelta(days=1)
        if day_info(current).is_workday:
            left -= 1
    return current


def due_at(kind: str, created_at: dt.datetime, tz: str, on_date: dt.date | None = None) -> dt.datetime:
    """When a ticket of ``kind`` filed at ``created_at`` is due (aware, UTC).

    An appointment is due when the branch opens on its day (``on_date``); other kinds at the close
    of business of their last working day.
    """
    zone = ZoneInfo(tz)
    if kind == "appointment" and on_date is not None:
        return dt.datetime.combine(on_date, APPOINTMENT_START, zone).astimezone(dt.UTC)
    local_day = created_at.astimezone(zone).date()
    last = add_working_days(local_day, WORKING_DAYS.get(kind, 1))
    return dt.datetime.combine(last, CLOSE_OF_BUSINESS, zone).astimezone(dt.UTC)
