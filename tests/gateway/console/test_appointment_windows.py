"""The work queue shows an appointment's day and time window apart, sorts by them, and follows a moved booking."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm.models import Appointment, Customer, RelationshipManager
from gateway.keys import SESSION_FACTORY
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    db_url,
    fake_rasa,
    gateway,
    template_db,
)
from tests.gateway.console.test_console_api import Browser, browser  # noqa: F401

DAY = dt.date(2026, 3, 10)  # a Tuesday
BOOKINGS = [  # ref, day, window (stored as the booking's window; None = any time that day)
    ("YY20260304000001", DAY, "下午"),
    ("YY20260304000002", DAY, "上午"),
    ("YY20260304000003", DAY - dt.timedelta(days=1), "14:00-15:00"),
    ("YY20260304000004", DAY, "09:00-10:00"),
    ("YY20260304000005", DAY, None),
]


def _book_for_rm001(gateway: TestClient) -> None:
    with gateway.app[SESSION_FACTORY].begin() as s:
        rm = s.scalar(select(RelationshipManager).where(RelationshipManager.code == "RM001"))
        assert rm is not None
        customer = s.scalar(select(Customer).where(Customer.rm_id == rm.id).order_by(Customer.id).limit(1))
        assert customer is not None
        at = dt.datetime(2026, 3, 4, 1, 0, tzinfo=dt.UTC)
        for ref, day, window in BOOKINGS:
            s.add(Appointment(ref=ref, customer_id=customer.id, branch_id=customer.branch_id, on_date=day,
                              time_window=window, service="开户", status="booked", idempotency_key=f"k-{ref}",
                              created_at=at))  # fmt: skip


async def test_appointment_items_show_day_and_window_apart_and_sort_by_them(
    browser: Callable[[], Browser], gateway: TestClient
) -> None:
    _book_for_rm001(gateway)
    rm = browser()
    await rm.login("rm001")
    resp = await rm.get("/console/api/tickets?kind=appointment&order=visit")
    assert resp.status == 200, await resp.text()
    items = {t["ref"]: t for t in (await resp.json())["tickets"]}
    afternoon = items["YY20260304000001"]
    assert afternoon["category"] == "开户"  # the service only, no window in it
    assert afternoon["visit"]["date"] == "2026-03-10" and afternoon["visit"]["day"] == "03月10日（周二）"
    assert afternoon["visit"]["window"] == "下午" and afternoon["visit"]["window_label"] == "下午"
    assert "03月10日 下午" in afternoon["content"]
    assert items["YY20260304000005"]["visit"]["window"] is None
    assert items["YY20260304000005"]["visit"]["window_label"] == "全天"

    # By visit: the day first, then the window (whole day, 上午, the 9 o'clock hour, 下午).
    in_order = [t["ref"] for t in (await resp.json())["tickets"] if t["ref"] in items]
    assert in_order == [
        "YY20260304000003", "YY20260304000005", "YY20260304000002", "YY20260304000004", "YY20260304000001"
    ]
    assert (await rm.get("/console/api/tickets?order=sideways")).status == 400

    # The customer moves the afternoon booking to the morning of another day in chat: the item follows.
    with gateway.app[SESSION_FACTORY].begin() as s:
        appt = s.scalar(select(Appointment).where(Appointment.ref == "YY20260304000001"))
        assert appt is not None
        appt.on_date, appt.time_window = DAY + dt.timedelta(days=1), "上午"
    moved = {t["ref"]: t for t in (await (await rm.get("/console/api/tickets?kind=appointment")).json())["tickets"]}
    item = moved["YY20260304000001"]
    assert item["visit"]["date"] == "2026-03-11" and item["visit"]["window"] == "上午"
    assert "03月11日 上午" in item["content"] and item["due"].startswith("2026-03-11")


async def test_the_work_queue_page_has_the_visit_order_and_shows_the_window(gateway: TestClient) -> None:
    page = await (await gateway.get("/console/tickets")).text()
    assert 'id="f-order"' in page and 'value="visit"' in page
    script = await (await gateway.get("/console/static/tickets.js")).text()
    assert '["f-order", "order"]' in script and "t.visit.window_label" in script


async def test_a_booking_cancelled_in_chat_closes_its_work_item(
    browser: Callable[[], Browser], gateway: TestClient
) -> None:
    _book_for_rm001(gateway)
    rm = browser()
    await rm.login("rm001")
    listed = await (await rm.get("/console/api/tickets?kind=appointment&status=active")).json()
    assert "YY20260304000002" in {t["ref"] for t in listed["tickets"]}
    with gateway.app[SESSION_FACTORY].begin() as s:
        appt = s.scalar(select(Appointment).where(Appointment.ref == "YY20260304000002"))
        assert appt is not None
        appt.status = "cancelled"  # what crm.access.appointments.cancel_booking writes
    active = await (await rm.get("/console/api/tickets?kind=appointment&status=active")).json()
    assert "YY20260304000002" not in {t["ref"] for t in active["tickets"]}
    assert "YY20260304000001" in {t["ref"] for t in active["tickets"]}  # the others stay open
    closed = {t["ref"]: t for t in (await (await rm.get("/console/api/tickets?kind=appointment&status=closed")).json())["tickets"]}
    item = closed["YY20260304000002"]
    assert item["status"] == "closed" and not item["active"]
    assert "取消预约" in item["resolution"] and item["resolved"]
