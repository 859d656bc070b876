"""The whole SMS loop with both real SDKs (#22): campaign SMS sent through the sandbox, the
sandbox's delivery reports and a customer's 退订 pushed to the gateway's callback routes, and the
outbox, the number's reachability and the consent updated."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from care.sms_channel import dump_params
from core.db import make_sessionmaker
from core.settings import Settings
from crm.care_access import marketing_allowed
from crm.models import Customer, Delivery, MarketingConsent
from crm.models.care import DeliveryStatus
from crm.models.sms import SmsMessage
from crm.sms_templates import load_templates
from gateway.keys import SESSION_FACTORY, SETTINGS
from gateway.sms_callbacks import setup_sms_callbacks
from outbound.contract import DeliveryView
from outbound.sms.aliyun import AliyunSms
from outbound.sms.config import SandboxAccount
from outbound.sms.dispatch import SmsDispatchSender
from outbound.sms.results import SmsProvider
from outbound.sms.sandbox.app import SmsSandboxSettings
from outbound.sms.sandbox.runner import sandbox_in_thread
from outbound.sms.tencent import TencentSms

NOW = dt.datetime.now(dt.UTC)
EMPTY_NUMBER = "13900000000"  # the sandbox reports numbers ending 0000 as 空号


def _provider(kind: str, url: str) -> Callable[[], SmsProvider]:
    account, sign = SandboxAccount(), load_templates().signature
    if kind == "aliyun":
        return lambda: AliyunSms(access_key_id=account.aliyun_access_key_id,
                                 access_key_secret=account.aliyun_access_key_secret, sign_name=sign, endpoint=url)
    return lambda: TencentSms(secret_id=account.tencent_secret_id, secret_key=account.tencent_secret_key,
                              sdk_app_id=account.tencent_sdk_app_id, sign_name=sign, endpoint=url)


async def _until(check: Callable[[], bool], seconds: float = 15.0, why: Callable[[], object] = str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"the sandbox's push never arrived: {why()}"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("kind", ["tencent", "aliyun"])
async def test_reports_and_unsubscribe_come_back_through_the_gateway(
    demo_engine: Engine, kind: str
) -> None:
    factory = make_sessionmaker(demo_engine)
    app = web.Application()
    app[SETTINGS], app[SESSION_FACTORY] = Settings(), factory
    setup_sms_callbacks(app)
    server = TestServer(app)
    await server.start_server()
    book = load_templates()
    params = ("尊敬的客户", "城关支行")
    with Session(demo_engine) as s:
        empty, fine = s.scalars(select(Customer).order_by(Customer.id.desc()).limit(2)).all()
        empty.phone = EMPTY_NUMBER
        s.query(MarketingConsent).filter_by(customer_id=fine.id).delete()
        s.add(MarketingConsent(customer_id=fine.id, channel="all", granted=True, source="开户签约"))
        views = []
        for c in (empty, fine):
            key = f"festival_greetings:{c.id}:{kind}"
            s.add(Delivery(customer_id=c.id, idempotency_key=key, channel="sms", is_marketing=True,
                           text=book.full_text("spring_festival_greeting", params),
                           sms_template="spring_festival_greeting", sms_params=dump_params(params),
                           status=DeliveryStatus.SENT, not_before=NOW, sent_at=NOW, local_day=NOW.date()))
            views.append(DeliveryView(
                delivery_id=0, idempotency_key=key, customer_id=c.id, campaign_code="festival_greetings",
                campaign_kind="festival", channel="sms", identity_id=None, external_id=None, last_inbound_at=None,
                is_marketing=True, text="", attempt=1, phone=c.phone, sms_template="spring_festival_greeting",
                sms_params=params,
            ))
        s.commit()
        fine_id, fine_phone, empty_key = fine.id, fine.phone, views[0].idempotency_key
    settings = SmsSandboxSettings(gateway_url=str(server.make_url("")).rstrip("/"), report_delay_s=0)
    try:
        with sandbox_in_thread(settings) as (url, box):
            sender = SmsDispatchSender(factory, _provider(kind, url), settle_s=0)
            try:
                outcomes = await asyncio.to_thread(sender.send_now, views)
            finally:
                sender.close()
            assert [o.status for o in outcomes] == ["sent", "sent"]

            def reported() -> bool:
                with Session(demo_engine) as s:
                    return set(s.scalars(select(SmsMessage.status).where(SmsMessage.delivery_key.in_(
                        [v.idempotency_key for v in views])))) == {"delivered", "undelivered"}

            def state() -> object:
                with Session(demo_engine) as s:
                    return box.stats, list(s.execute(select(SmsMessage.status, SmsMessage.provider_message_id,
                                                            SmsMessage.phone)))

            await _until(reported, why=state)
            with Session(demo_engine) as s:
                dead = s.scalars(select(Delivery).where(Delivery.idempotency_key == empty_key)).one()
                assert (dead.status, dead.reason, dead.last_error) == (DeliveryStatus.DEAD, "undelivered", "MN:0001")
            # The customer answers 退订 from their phone; the sandbox pushes it as 上行短信.
            async with aiohttp.ClientSession() as http:
                resp = await http.post(f"{url}/sandbox/sms/api/reply", json={"phone": fine_phone, "text": "退订"})
                assert resp.status == 200

            def refused() -> bool:
                with Session(demo_engine) as s:
                    return not marketing_allowed(s, [fine_id], "sms")[fine_id]

            await _until(refused)
            assert box.stats.push_failures == 0
    finally:
        await server.close()
