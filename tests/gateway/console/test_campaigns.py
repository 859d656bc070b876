"""The console's campaign report: supervisors only, the same numbers as ``bankcare care report``."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from care import report
from care.definitions import load_into_db, read_files
from care.planner import plan_day
from care_scheduler.dispatcher import DispatchConfig, Dispatcher
from core.db import session_scope
from crm.care_access import opt_out, record_reply
from crm.models import Delivery
from crm.models.care import DeliveryStatus
from gateway.keys import SESSION_FACTORY
from outbound.contract import RecordingSender, SendOutcome
from tests.gateway.console.support import console_login as login
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    db_url,
    fake_rasa,
    gateway,
    http,
    template_db,
)

SPRING = dt.date(2027, 2, 6)  # 春节 2027
NOON = dt.datetime(2027, 2, 6, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai
CODE = "festival_greetings"


async def seed_campaign_results(factory: sessionmaker[Session]) -> dict[str, int]:
    """Plan the 春节 greeting for the demo bank, send it (one send fails for good), then one
    customer replies and another opts out. Returns the expected counts."""
    with session_scope(factory) as s:
        load_into_db(s, read_files())
        plan_day(s, SPRING, codes=[CODE])
        keys = list(
            s.scalars(select(Delivery.idempotency_key).where(Delivery.status == DeliveryStatus.PLANNED).order_by(Delivery.id))
        )
    assert len(keys) >= 3, "the demo bank must give the greeting some recipients"
    sender = RecordingSender(script={keys[0]: [SendOutcome.failed("blocked_by_user")]})
    config = DispatchConfig(rate_per_second=0, batch_size=500)
    await Dispatcher(factory, sender, config, clock=lambda: NOON).drain()
    later = NOON + dt.timedelta(hours=2)
    with session_scope(factory) as s:
        sent = list(s.scalars(select(Delivery.customer_id).where(Delivery.status == DeliveryStatus.SENT).order_by(Delivery.id)))
        assert record_reply(s, sent[0], now=later)
        opt_out(s, sent[1], "微信退订", now=later)
    with session_scope(factory) as s:
        statuses = list(s.scalars(select(Delivery.status)))
    return {
        "delivered": statuses.count("sent"),
        "failed": statuses.count("dead"),
        "suppressed": statuses.count("suppressed"),
        "replied": 1,
        "opted_out": 1,
    }


async def test_only_supervisors_see_campaign_reports(gateway: TestClient, http: aiohttp.ClientSession) -> None:
    await seed_campaign_results(gateway.app[SESSION_FACTORY])
    for path in ("/console/api/campaigns", f"/console/api/campaigns/{CODE}"):
        resp = await http.get(path)
        assert resp.status == 401 and (await resp.json())["error"] == "login_required"
    await login(http, "rm001")
    for path in ("/console/api/campaigns", f"/console/api/campaigns/{CODE}"):
        resp = await http.get(path)
        assert resp.status == 403
        assert await resp.json() == {"error": "forbidden", "message": "只有主管可以查看关怀活动报表。"}


async def test_supervisor_sees_the_numbers_care_report_prints(gateway: TestClient, http: aiohttp.ClientSession) -> None:
    factory = gateway.app[SESSION_FACTORY]
    expected = await seed_campaign_results(factory)
    await login(http, "sup004")

    resp = await http.get(f"/console/api/campaigns/{CODE}")
    assert resp.status == 200
    detail = await resp.json()
    values = {m["key"]: m["value"] for m in detail["metrics"]}
    assert {key: values[key] for key in expected} == expected
    assert expected["failed"] == 1
    assert values["delivered"] > 0 and values["suppressed"] > 0, values
    with factory() as s:
        printed = report.build(s, CODE).lines()  # what `bankcare care report festival_greetings` prints
    for m in detail["metrics"]:
        assert f"  {m['label']}：{m['value']:,}" in printed
    for reason in detail["suppressed"]:
        assert f"    - {reason['label']}：{reason['value']:,}" in printed
    assert [m["label"] for m in detail["metrics"]] == [
        "已送达",
        "待发送",
        "已推迟",
        "未发送",
        "失败",
        "已回复",
        "已退订",
    ]
    assert detail["kind_label"] == "节日问候"
    assert (
        detail["total"]
        == values["delivered"] + values["pending"] + values["deferred"] + values["suppressed"] + values["failed"]
    )

    resp = await http.get("/console/api/campaigns")
    assert resp.status == 200
    listed = {c["code"]: c for c in (await resp.json())["campaigns"]}
    assert listed[CODE] == detail
    assert {"birthday_greeting", "deposit_maturity_reminder"} <= set(listed)
    assert listed["birthday_greeting"]["total"] == 0


async def test_unknown_campaign_and_the_page(gateway: TestClient, http: aiohttp.ClientSession) -> None:
    await seed_campaign_results(gateway.app[SESSION_FACTORY])
    await login(http, "sup004")
    for code in ("no_such_campaign", "Festival_Greetings", "x" * 60, "..%2F..%2Fetc"):
        resp = await http.get(f"/console/api/campaigns/{code}")
        assert resp.status == 404, code
        assert (await resp.json())["message"] == "没有这个关怀活动。"
    for path in ("/console/campaigns", f"/console/campaigns/{CODE}"):
        resp = await http.get(path)
        assert resp.status == 200
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert "关怀活动报表" in await resp.text()
