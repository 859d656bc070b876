"""The console's work queue (工单): listing with filters, assignment, Chinese statuses, SLA due times,
resolving tells the customer, and the callback number revealed to the assigned RM only (audited)."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm.models import AuditEvent, Card, ChannelIdentity, Conversation, Customer, LossReport, Message, Ticket
from crm.models.service import TicketStatus
from gateway.keys import SESSION_FACTORY
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    PLAIN_WEB_ID,
    db_url,
    fake_rasa,
    gateway,
    template_db,
)
from tests.gateway.console.test_console_api import Browser, browser  # noqa: F401


def _left_message(gateway: TestClient, at: dt.datetime) -> int:
    """A 留言 from an unbound WeChat user who typed her number to be called back on."""
    with gateway.app[SESSION_FACTORY].begin() as s:
        identity = ChannelIdentity(channel="wechat", external_id="o-unbound-visitor")
        s.add(identity)
        s.flush()
        ticket = Ticket(ref="LY20261207AAAAAA", identity_id=identity.id, kind="message", category="留言",
                        content="想问贷款的事，请打我电话17012347006", idempotency_key="t-left-1",
                        created_at=at, updated_at=at)  # fmt: skip
        s.add(ticket)
        s.flush()
        return ticket.id


async def test_unbound_message_assigned_by_supervisor_number_revealed_to_assignee_only(
    browser: Callable[[], Browser], gateway: TestClient
) -> None:
    ticket_id = _left_message(gateway, dt.datetime.now(dt.UTC) - dt.timedelta(days=10))
    sup, own, colleague = browser(), browser(), browser()
    await sup.login("sup004")
    await own.login("rm001")
    await colleague.login("rm002")

    listing = await (await sup.get("/console/api/tickets?kind=message&status=active")).json()
    item = next(t for t in listing["tickets"] if t["id"] == ticket_id)
    assert item["kind_label"] == "留言" and item["status_label"] == "待处理"
    assert item["customer"] == "微信用户（未绑定）"
    assert item["callback_masked"] == "170****7006" and "17012347006" not in str(listing)
    assert item["overdue"] is True and item["due"] is not None
    overdue = await (await sup.get("/console/api/tickets?due=overdue")).json()
    assert ticket_id in [t["id"] for t in overdue["tickets"]]
    # Nobody's ticket and no branch yet: a plain RM may not read the number, the supervisor assigns it.
    assert (await own.post(f"/console/api/tickets/{ticket_id}/reveal")).status == 403
    assert ticket_id not in [t["id"] for t in (await (await own.get("/console/api/tickets")).json())["tickets"]]
    rm001 = next(r["id"] for r in listing["rms"] if r["code"] == "RM001")
    resp = await sup.post(f"/console/api/tickets/{ticket_id}/assign", {"rm_id": rm001})
    assert resp.status == 200, await resp.text()

    assert (await sup.post(f"/console/api/tickets/{ticket_id}/reveal")).status == 403
    assert (await colleague.post(f"/console/api/tickets/{ticket_id}/reveal")).status in (403, 404)
    resp = await own.post(f"/console/api/tickets/{ticket_id}/reveal")
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["phone"] == "17012347006"
    with gateway.app[SESSION_FACTORY]() as s:
        reveals = list(s.scalars(select(AuditEvent).where(AuditEvent.action == "callback_number_revealed")))
        assert len(reveals) == 1 and reveals[0].actor == "rm:RM001"
        assert "17012347006" not in str(reveals[0].detail)
        ticket = s.get(Ticket, ticket_id)
        assert ticket is not None and ticket.identity_id is not None  # the channel identity is kept


async def test_resolving_needs_a_note_tells_the_customer_and_check_ticket_tells_the_truth(
    browser: Callable[[], Browser], gateway: TestClient
) -> None:
    customer = browser()
    assert (await customer.http.post(customer.url("/api/session"), json={"persona": PLAIN_WEB_ID})).status == 200
    assert (await customer.http.post(customer.url("/api/messages"), json={"text": "你好"})).status == 200
    with gateway.app[SESSION_FACTORY].begin() as s:
        conv = s.scalar(select(Conversation).order_by(Conversation.id.desc()).limit(1))
        assert conv is not None
        identity = s.get(ChannelIdentity, conv.identity_id)
        assert identity is not None and identity.customer_id is not None
        ticket = Ticket(ref="TS20261207BBBBBB", identity_id=identity.id, customer_id=identity.customer_id,
                        kind="complaint", category="投诉", content="柜台排队太久", idempotency_key="t-c-1")  # fmt: skip
        s.add(ticket)
        s.flush()
        ticket_id = ticket.id
    own = browser()
    await own.login("rm001")
    listing = await (await own.get("/console/api/tickets")).json()
    mine = next(t for t in listing["tickets"] if t["id"] == ticket_id)
    assert mine["status_label"] == "待处理" and mine["kind_label"] == "投诉"
    with gateway.app[SESSION_FACTORY].begin() as s:
        t = s.get(Ticket, ticket_id)
        assert t is not None
        t.rm_id = listing["me"]["id"]  # the customer's RM may be a colleague: rm001 handles it here
    empty = await own.post(f"/console/api/tickets/{ticket_id}/status", {"status": "resolved", "resolution": " "})
    assert empty.status == 400 and "处理结果" in (await empty.json())["message"]
    resp = await own.post(
        f"/console/api/tickets/{ticket_id}/status", {"status": "resolved", "resolution": "已为您开通绿色通道"}
    )
    assert resp.status == 200, await resp.text()
    answer = await resp.json()
    assert answer["notified"] is True and answer["ticket"]["status_label"] == "已解决"
    history = await (await customer.http.get(customer.url("/api/messages"))).json()
    texts = [m["text"] for m in history["messages"]]
    assert any("TS20261207BBBBBB" in t and "已为您开通绿色通道" in t for t in texts)
    assert any("满意" in t for t in texts)  # asks for a rating
    # "查工单" reads the same: the Chinese status and the resolution note.
    from crm.access.service import ticket_statuses

    with gateway.app[SESSION_FACTORY]() as s:
        rows = ticket_statuses(s, None, identity.id, "TS20261207BBBBBB")
        assert rows[0].status == TicketStatus.RESOLVED and rows[0].resolution == "已为您开通绿色通道"
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "ticket_status")) is not None
    closed = await own.post(f"/console/api/tickets/{ticket_id}/status", {"status": "closed"})
    assert (await closed.json())["ticket"]["status_label"] == "已关闭"
    again = await own.post(f"/console/api/tickets/{ticket_id}/status", {"status": "processing"})
    assert again.status == 400


async def test_loss_reports_become_work_items_and_strangers_see_nothing(
    browser: Callable[[], Browser], gateway: TestClient
) -> None:
    with gateway.app[SESSION_FACTORY].begin() as s:
        card = s.scalar(select(Card).join(Customer, Customer.id == Card.customer_id)
                        .where(Customer.branch_id == 1).limit(1))  # fmt: skip
        assert card is not None
        s.add(LossReport(ref="GS20261207CCCCCC", customer_id=card.customer_id, card_id=card.id,
                         idempotency_key="t-loss-1"))  # fmt: skip
    sup, stranger = browser(), browser()
    await sup.login("sup004")
    await stranger.login("rm005")
    listing = await (await sup.get("/console/api/tickets?kind=loss_report")).json()
    item = next(t for t in listing["tickets"] if t["ref"] == "GS20261207CCCCCC")
    assert item["kind_label"] == "挂失" and "尾号" in item["content"] and card.card_no not in str(listing)
    again = await (await sup.get("/console/api/tickets?kind=loss_report")).json()
    assert [t["ref"] for t in again["tickets"]].count("GS20261207CCCCCC") == 1  # synced once
    other = await (await stranger.get("/console/api/tickets")).json()
    assert "GS20261207CCCCCC" not in [t["ref"] for t in other["tickets"]]
    assert (await stranger.post(f"/console/api/tickets/{item['id']}/status", {"status": "processing"})).status == 404
    assert (await sup.get("/console/api/tickets?status=open;drop")).status == 400
    with gateway.app[SESSION_FACTORY]() as s:
        assert s.scalar(select(Message).where(Message.text.like("%GS20261207CCCCCC%"))) is None
