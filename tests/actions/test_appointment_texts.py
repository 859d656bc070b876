"""How a booked visit reads to the customer: the day, the window, the branch, the service, in one line."""

from __future__ import annotations

import datetime as dt

from actions.texts import booking_list, date_refusal, visit_day, visit_window
from crm.access.appointments import BookingView

DAY = dt.date(2026, 12, 9)  # a Wednesday
HOURS = ("08:30", "17:00")


def test_appointment_day_reads_with_its_window() -> None:
    assert visit_day(DAY, "上午") == "12月9日（周三）上午"
    assert visit_day(DAY, "09:00-10:00") == "12月9日（周三）09:00-10:00"
    assert visit_day(DAY, None) == "12月9日（周三）"
    assert visit_window(HOURS, "上午") == "上午08:30-11:30" and visit_window(HOURS, "下午") == "下午13:30-17:00"
    assert visit_window(HOURS, "9") == "09:00-10:00" and visit_window(HOURS, None) == "08:30-17:00"


def test_appointment_list_shows_window_apart_from_the_service() -> None:
    rows = [
        BookingView("YY1", "城关支行", "城关镇人民路1号", DAY, "开卡", HOURS, "上午"),
        BookingView("YY2", "城关支行", "城关镇人民路1号", DAY + dt.timedelta(days=1), "补卡", HOURS, None),
    ]
    lines = booking_list(rows).splitlines()
    assert lines[1] == "· 12月9日（周三）上午08:30-11:30，城关支行（城关镇人民路1号），办理开卡，预约号YY1。"
    assert lines[2] == "· 12月10日（周四）08:30-17:00，城关支行（城关镇人民路1号），办理补卡，预约号YY2。"


def test_appointment_window_refusal_offers_another_window() -> None:
    said = date_refusal("window_full", None)
    assert said == "这个网点那天这个时段的预约已经满了。请换个时段或换一天。"
