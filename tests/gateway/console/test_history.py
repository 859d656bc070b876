"""History and search in the console: by keyword, rating, date and RM; transcripts in local time with ratings (#21)."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm.access.ratings import add_rating, set_rating_reason
from crm.models import AuditEvent, Message
from gateway.keys import SESSION_FACTORY
from tests.gateway.console.support import db_url, fake_rasa, gateway, template_db  # noqa: F401 - fixtures
from tests.gateway.console.test_console_api import (  # noqa: F401 - fixture
    Browser,
    browser,
    customer_asks_for_human,
    queued_id,
)


async def test_search_and_transcript_with_local_times_and_ratings(
    browser: Callable[[], Browser], gateway: TestClient
) -> None:
    own, stranger, customer = browser(), browser(), browser()
    await own.login("rm001")
    await stranger.login("rm005")
    await customer_asks_for_human(customer)
    conv = queued_id(gateway)
    assert (await own.post(f"/console/api/conversations/{conv}/take")).status == 200
    assert (await own.post(f"/console/api/conversations/{conv}/reply", {"text": "您的定期存款下月到期"})).status == 200
    live = await (await own.get(f"/console/api/conversations/{conv}")).json()
    assert set(live["records"]) == {"loss_reports", "appointments", "tickets"}  # the live customer panel too
    assert (await own.post(f"/console/api/conversations/{conv}/handback")).status == 200
    with gateway.app[SESSION_FACTORY].begin() as s:
        rating = add_rating(s, conv, None, 4)
        set_rating_reason(s, rating.id, "回复很快，电话13812345678")
        first = s.scalar(select(Message).where(Message.conversation_id == conv).order_by(Message.id).limit(1))
        assert first is not None
        expected = first.created_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")

    found = await (await own.get("/console/api/history?q=定期存款")).json()
    assert [c["id"] for c in found["conversations"]] == [conv]
    row = found["conversations"][0]
    assert row["customer"] == "张*华" and row["ratings"][0]["score"] == 4
    assert "13812345678" not in str(found) and "138****5678" in row["ratings"][0]["comment"]
    assert [c["id"] for c in (await (await own.get("/console/api/history?rating=4")).json())["conversations"]] == [conv]
    assert (await (await own.get("/console/api/history?rating=1")).json())["conversations"] == []
    tomorrow = (dt.datetime.now(ZoneInfo("Asia/Shanghai")).date() + dt.timedelta(days=2)).isoformat()
    assert (await (await own.get(f"/console/api/history?from={tomorrow}")).json())["conversations"] == []
    assert (await (await own.get("/console/api/history?customer=张")).json())["conversations"]
    assert (await own.get("/console/api/history?from=昨天")).status == 400
    assert (await own.get("/console/api/history?rating=9")).status == 400
    # Another branch's RM finds nothing and cannot open it.
    assert (await (await stranger.get("/console/api/history?q=定期存款")).json())["conversations"] == []
    assert (await stranger.get(f"/console/api/history/{conv}")).status == 404

    detail = await (await own.get(f"/console/api/history/{conv}")).json()
    assert detail["messages"][0]["at"] == expected  # the bank's local date and time, not UTC
    assert any(m["who"] == "客户经理" and m["text"] == "您的定期存款下月到期" for m in detail["messages"])
    assert detail["records"] is not None and set(detail["records"]) == {"loss_reports", "appointments", "tickets"}
    with gateway.app[SESSION_FACTORY]() as s:
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "console_view_history")) is not None
