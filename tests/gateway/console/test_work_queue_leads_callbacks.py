"""Leads (#23) on the customer's profile and in the RM's work queue, 回访 tasks (#24) in the work queue:
listed with their masked trigger words / due day and closed from there."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import session_scope
from crm.access.conversations import NewMessage, open_conversation, record_messages
from crm.models import (
    CallbackTask,
    ChannelIdentity,
    Conversation,
    Customer,
    RelationshipManager,
    Survey,
    SurveyResponse,
)
from crm.models.base import utcnow
from gateway.console.panel import customer_panel
from gateway.keys import SESSION_FACTORY
from tests.gateway.console.support import console_login as login
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    db_url,
    fake_rasa,
    gateway,
    http,
    template_db,
)

PHONE = "13812345678"


def _rm001_customer(s: Session) -> tuple[int, int]:
    rm = s.scalars(select(RelationshipManager).where(RelationshipManager.login == "rm001")).one()
    customer = s.scalars(select(Customer).where(Customer.rm_id == rm.id).order_by(Customer.id)).first()
    assert customer is not None, "the demo bank gives rm001 customers"
    return rm.id, customer.id


async def test_a_lead_shows_on_the_profile_and_in_the_queue_and_takes_an_outcome(
    gateway: TestClient, http: aiohttp.ClientSession
) -> None:
    factory = gateway.app[SESSION_FACTORY]
    with session_scope(factory) as s:
        rm_id, customer_id = _rm001_customer(s)
        conv = open_conversation(s, "web", "wq-lead")
        identity = s.get(ChannelIdentity, conv.identity_id)
        assert identity is not None
        identity.customer_id, identity.verified_at = customer_id, utcnow()
        identity.verified_until = utcnow() + dt.timedelta(hours=1)  # verification still current
        record_messages(s, conv, [NewMessage("in", "customer", f"我想把养老金转过来，电话{PHONE}")])
        conv_id = conv.id

    # The profile harvests first, so the lead from the message just stored is there.
    with session_scope(factory) as s:
        stored = s.get(Conversation, conv_id)
        assert stored is not None
        panel = customer_panel(s, stored, "Asia/Shanghai")
    assert [(x["product"], x["status_name"]) for x in panel["leads"]] == [("pension", "待跟进")]
    lead = panel["leads"][0]
    assert "养老金" in lead["trigger_words"]
    assert PHONE not in lead["trigger_words"] + lead["text"]

    csrf = await login(http, "rm001")
    leads = (await (await http.get("/console/api/leads")).json())["leads"]
    assert lead["id"] in {x["id"] for x in leads}
    resp = await http.post(f"/console/api/leads/{lead['id']}/outcome", json={"status": "won"},
                           headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert resp.status == 200, await resp.text()
    with session_scope(factory) as s:
        stored = s.get(Conversation, conv_id)
        assert stored is not None
        assert customer_panel(s, stored, "Asia/Shanghai")["leads"][0]["status_name"] == "已成交"
    page = await (await http.get("/console/tickets")).text()
    assert 'id="leads"' in page and 'id="callbacks"' in page


async def test_callback_task_is_listed_with_its_due_day_and_closed_from_the_queue(
    gateway: TestClient, http: aiohttp.ClientSession
) -> None:
    factory = gateway.app[SESSION_FACTORY]
    due = dt.date(2026, 12, 9)
    with session_scope(factory) as s:
        rm_id, customer_id = _rm001_customer(s)
        survey = Survey(code="wq_test", name="服务满意度回访测试", definition={})
        s.add(survey)
        s.flush()
        response = SurveyResponse(survey_id=survey.id, customer_id=customer_id, delivery_key="wq-test-1",
                                  channel="sms", rm_id=rm_id, trigger="segment", invited_on=due,
                                  expires_at=utcnow() + dt.timedelta(days=3))  # fmt: skip
        s.add(response)
        s.flush()
        task = CallbackTask(response_id=response.id, customer_id=customer_id, rm_id=rm_id, scale="csat",
                            score=2, due_on=due)  # fmt: skip
        s.add(task)
        s.flush()
        task_id = task.id

    csrf = await login(http, "rm001")
    listed = {c["id"]: c for c in (await (await http.get("/console/api/callbacks")).json())["callbacks"]}
    assert listed[task_id]["due_on"] == due.isoformat() and listed[task_id]["status_zh"] == "待回访"
    resp = await http.post(f"/console/api/callbacks/{task_id}", json={"outcome": "done", "note": "已致电致歉"},
                           headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["status_zh"] == "已回访"
    still_open = {c["id"] for c in (await (await http.get("/console/api/callbacks")).json())["callbacks"]}
    assert task_id not in still_open


async def test_a_supervisor_closes_only_leads_of_their_own_branch(
    gateway: TestClient, http: aiohttp.ClientSession
) -> None:
    """Probe: a supervisor of another branch recorded 已成交 on any lead id (no branch check)."""
    factory = gateway.app[SESSION_FACTORY]
    with session_scope(factory) as s:
        _rm_id, customer_id = _rm001_customer(s)
        conv = open_conversation(s, "web", "wq-lead-branch")
        identity = s.get(ChannelIdentity, conv.identity_id)
        assert identity is not None
        identity.customer_id, identity.verified_at = customer_id, utcnow()
        identity.verified_until = utcnow() + dt.timedelta(hours=1)  # verification still current
        record_messages(s, conv, [NewMessage("in", "customer", "我想买点理财，收益稳一点的")])
        stored = s.get(Conversation, conv.id)
        assert stored is not None
        lead_id = customer_panel(s, stored, "Asia/Shanghai")["leads"][0]["id"]
        branch_of = {r.login: r.branch_id for r in s.scalars(select(RelationshipManager))}
    assert branch_of["sup008"] != branch_of["rm001"] == branch_of["sup004"]

    csrf = await login(http, "sup008")
    resp = await http.post(f"/console/api/leads/{lead_id}/outcome", json={"status": "lost"},
                           headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert resp.status == 404, await resp.text()
    with session_scope(factory) as s:
        stored = s.get(Conversation, conv.id)
        assert stored is not None
        assert customer_panel(s, stored, "Asia/Shanghai")["leads"][0]["status_name"] == "待跟进"

    await http.post("/console/api/logout", headers={"X-CSRF-Token": csrf})
    http.cookie_jar.clear()
    csrf = await login(http, "sup004")
    resp = await http.post(f"/console/api/leads/{lead_id}/outcome", json={"status": "won"},
                           headers={"X-CSRF-Token": csrf})  # fmt: skip
    assert resp.status == 200, await resp.text()
