"""Work-queue due times count working days of the statutory calendar (holidays and 调休) (#21)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from care.sla import add_working_days, due_at

SH = ZoneInfo("Asia/Shanghai")


def _local(day: dt.datetime) -> tuple[dt.date, str]:
    local = day.astimezone(SH)
    return local.date(), f"{local:%H:%M}"


def test_complaint_on_the_eve_of_national_day_is_due_after_the_holiday() -> None:
    # 2025-09-30 (Tuesday) 16:00 in Shanghai; 10-01..10-08 are the 国庆/中秋 holiday.
    filed = dt.datetime(2025, 9, 30, 16, 0, tzinfo=SH)
    assert _local(due_at("complaint", filed, "Asia/Shanghai")) == (dt.date(2025, 10, 9), "17:30")


def test_make_up_saturday_counts_as_a_working_day() -> None:
    # 2025-09-28 is a Sunday worked in lieu (调休): a complaint on Saturday the 27th is due that Sunday.
    filed = dt.datetime(2025, 9, 27, 10, 0, tzinfo=SH)
    assert _local(due_at("complaint", filed, "Asia/Shanghai")) == (dt.date(2025, 9, 28), "17:30")


def test_ordinary_weekend_is_skipped_and_loss_reports_get_two_days() -> None:
    friday = dt.datetime(2026, 3, 6, 9, 0, tzinfo=SH)
    assert _local(due_at("message", friday, "Asia/Shanghai"))[0] == dt.date(2026, 3, 9)
    assert _local(due_at("loss_report", friday, "Asia/Shanghai"))[0] == dt.date(2026, 3, 10)
    assert add_working_days(dt.date(2026, 3, 6), 0) == dt.date(2026, 3, 6)


def test_appointment_is_due_when_the_branch_opens_on_its_day() -> None:
    filed = dt.datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    due = due_at("appointment", filed, "Asia/Shanghai", dt.date(2026, 3, 5))
    assert _local(due) == (dt.date(2026, 3, 5), "09:00") and due.tzinfo is not None
