"""An appointment's time window (crm.access.windows): from what the customer said, clock times, halves, order."""

from __future__ import annotations

from crm.access.windows import half_of, window_for, window_sort_key, window_times

WEEKDAY = ("08:30", "17:00")
SATURDAY_MORNING = ("09:00", "12:00")


def test_appointment_window_from_what_was_said() -> None:
    assert window_for("上午", WEEKDAY) == "上午" and window_for("下午", WEEKDAY) == "下午"
    assert window_for("9", WEEKDAY) == "09:00-10:00" and window_for("16", ("08:30", "16:30")) == "16:00-16:30"
    assert window_for("20", WEEKDAY) is None  # after closing: any time that day
    assert window_for("下午", SATURDAY_MORNING) is None  # no afternoon on a morning-only day
    assert window_for("09:00-10:00", WEEKDAY) == "09:00-10:00" and window_for(None, WEEKDAY) is None


def test_appointment_window_clock_times_follow_the_days_hours() -> None:
    assert window_times("上午", WEEKDAY) == ("08:30", "11:30")
    assert window_times("下午", WEEKDAY) == ("13:30", "17:00")
    assert window_times("上午", SATURDAY_MORNING) == ("09:00", "11:30")
    assert window_times(None, WEEKDAY) == WEEKDAY and window_times("上午", None) is None
    assert window_times("07:00-08:00", WEEKDAY) is None and window_times("nonsense", WEEKDAY) is None


def test_appointment_windows_sort_and_count_by_half_day() -> None:
    windows = ["下午", "14:00-15:00", None, "09:00-10:00", "上午", "12:00-13:00"]
    assert sorted(windows, key=window_sort_key) == [None, "上午", "09:00-10:00", "下午", "12:00-13:00", "14:00-15:00"]
    assert [half_of(w) for w in ("上午", "09:00-10:00", "11:00-12:00", "12:00-13:00", "下午", None)] == [
        "上午", "上午", "上午", "下午", "下午", None
    ]
