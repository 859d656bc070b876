"""``/console/insights``: supervisors only; gaps of their pool, one-step resolve, their branch's
alerts; RMs see their own leads and record outcomes."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from core.db import session_scope
from crm.access import insights as store
from crm.access.conversations import open_conversation
from crm.models import ChannelIdentity, Customer, RelationshipManager
from crm.models.base import utcnow
from gateway.keys import SESSION_FACTORY
from tests.gateway.console.support import console_login as login
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    db_url,
    fake_rasa,
    gateway,
    http,
    template_db,
)

QUESTIONS = ["ETC怎么办理", "ETC在哪办理", "货车ETC怎么办理", "ETC卡办理流程", "在你们这能办ETC吗", "ETC办理要带什么"]


async def test_supervisor_resolves_a_gap_and_rm_records_a_lead(gateway: TestClient, http: aiohttp.ClientSession) -> None:
    factory = gateway.app[SESSION_FACTORY]
    with session_scope(factory) as s:
        sup = s.scalars(select(RelationshipManager).where(RelationshipManager.login == "sup004")).one()
        rm = s.scalars(select(RelationshipManager).where(RelationshipManager.login == "rm001")).one()
        customers = list(s.scalars(select(Customer).where(Customer.branch_id == sup.branch_id).limit(len(QUESTIONS))))
        for i, (customer, text) in enumerate(zip(customers, QUESTIONS, strict=False)):
            conv = open_conversation(s, "web", f"insights-page-{i}")
            identity = s.get(ChannelIdentity, conv.identity_id)
            assert identity is not None
            identity.customer_id, identity.verified_at = customer.id, utcnow()
            identity.verified_until = utcnow() + dt.timedelta(hours=1)  # verification still current
            store.record_unanswered(s, text, "faq_unsure", conversation_id=conv.id)
        conv = open_conversation(s, "web", "insights-page-0")
        lead = store.record_lead(s, conv.id, "deposit", ["想", "定期"], "想存个定期")
        assert lead is not None
        lead.rm_id = rm.id
        lead_id = lead.id

    assert (await http.get("/console/api/insights")).status == 401
    await login(http, "rm001")
    assert (await http.get("/console/api/insights")).status == 403
    leads = (await (await http.get("/console/api/leads")).json())["leads"]
    assert [x["id"] for x in leads] == [lead_id] and leads[0]["product_name"] == "存款"
    await http.post("/console/api/logout", json={})

    http.cookie_jar.clear()
    csrf = await login(http, "sup004")
    resp = await http.get("/console/api/insights?days=7")
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    top = data["topics"][0]
    assert top["size"] == len(customers) and set(top["examples"]) <= set(QUESTIONS)
    assert "ETC" in top["suggested_question"].upper()
    page = await http.get("/console/insights")
    assert page.status == 200 and "客户之声" in await page.text()

    resp = await http.post(f"/console/api/insights/topics/{top['id']}/resolve",
                           json={"answer": "您好，本行暂不办理ETC，请到高速公路服务网点办理。"},
                           headers={"X-CSRF-Token": csrf})
    assert resp.status == 200, await resp.text()
    again = await http.post(f"/console/api/insights/topics/{top['id']}/resolve", json={"answer": "再来一次"},
                            headers={"X-CSRF-Token": csrf})
    assert again.status == 400
    data = await (await http.get("/console/api/insights?days=7")).json()
    assert top["id"] not in {t["id"] for t in data["topics"]}

    resp = await http.post(f"/console/api/leads/{lead_id}/outcome", json={"status": "won"},
                           headers={"X-CSRF-Token": csrf})
    assert resp.status == 200
    with session_scope(factory) as s:
        assert [o.status for o in store.lead_outcomes(s)] == ["won"]
