"""The SMS providers' callbacks: delivery reports, replies, 退订, authenticity and bad payloads (#22)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.db import make_sessionmaker
from core.settings import Settings
from crm.care_access import marketing_allowed
from crm.models import AuditEvent, Customer, Delivery, MarketingConsent
from crm.models.care import DeliveryStatus
from crm.models.sms import SmsInbound, SmsMessage, SmsReach
from gateway.keys import SESSION_FACTORY, SETTINGS
from gateway.sms_callbacks import setup_sms_callbacks
from outbound.sms.callbacks import ALIYUN_ACK, TENCENT_ACK

NOW = dt.datetime.now(dt.UTC)


async def _client(engine: Engine, settings: Settings) -> TestClient:
    app = web.Application()
    app[SETTINGS] = settings
    app[SESSION_FACTORY] = make_sessionmaker(engine)
    setup_sms_callbacks(app)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def client(demo_engine: Engine) -> AsyncIterator[TestClient]:
    c = await _client(demo_engine, Settings())
    yield c
    await c.close()


def _customer(s: Session) -> Customer:
    return s.scalars(select(Customer).order_by(Customer.id.desc()).limit(1)).one()


def _sent_sms(s: Session, customer: Customer, key: str, serial: str, provider: str = "tencent",
              marketing: bool = True) -> None:
    s.add(SmsMessage(delivery_key=key, phone=customer.phone, provider=provider, template_key="birthday_greeting",
                     segments=1, status="sent", attempts=1, provider_message_id=serial, customer_id=customer.id,
                     sent_at=NOW))
    s.add(Delivery(customer_id=customer.id, idempotency_key=key, channel="sms", is_marketing=marketing,
                   text="【XX农商银行】…", status=DeliveryStatus.SENT, not_before=NOW, sent_at=NOW,
                   local_day=NOW.date()))


async def test_failed_reports_mark_the_outbox_row_and_twice_the_number_unreachable(
    client: TestClient, demo_engine: Engine
) -> None:
    with Session(demo_engine) as s:
        c = _customer(s)
        phone = c.phone
        _sent_sms(s, c, "birthday_greeting:x:1", "2640:a")
        _sent_sms(s, c, "birthday_greeting:x:2", "2640:b")
        s.commit()
    for serial in ("2640:a", "2640:b"):
        report = [{"user_receive_time": "2027-02-06 09:00:05", "nationcode": "86", "mobile": phone,
                   "report_status": "FAIL", "errmsg": "MN:0001", "description": "空号", "sid": serial}]
        resp = await client.post("/sms/tencent/report", json=report)
        assert resp.status == 200 and await resp.json() == TENCENT_ACK
    with Session(demo_engine) as s:
        rows = s.scalars(select(Delivery).where(Delivery.idempotency_key.like("birthday_greeting:x:%"))).all()
        assert {(d.status, d.reason, d.last_error) for d in rows} == {
            (DeliveryStatus.DEAD, "undelivered", "MN:0001")
        }
        assert {m.status for m in s.scalars(select(SmsMessage))} == {"undelivered"}
        reach = s.get_one(SmsReach, phone)
        assert reach.hard_failures == 2 and reach.unreachable_since is not None


async def test_aliyun_delivered_report(client: TestClient, demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        c = _customer(s)
        phone = c.phone
        _sent_sms(s, c, "k:aliyun", "BIZ123", provider="aliyun")
        s.commit()
    report = [{"phone_number": phone, "send_time": "2027-02-06 09:00:00", "report_time": "2027-02-06 09:00:03",
               "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1",
               "biz_id": "BIZ123", "out_id": "ctx"}]
    resp = await client.post("/sms/aliyun/report", json=report)
    assert resp.status == 200 and await resp.json() == ALIYUN_ACK
    with Session(demo_engine) as s:
        assert s.scalars(select(SmsMessage.status).where(SmsMessage.delivery_key == "k:aliyun")).one() == "delivered"
        d = s.scalars(select(Delivery).where(Delivery.idempotency_key == "k:aliyun")).one()
        assert d.status == DeliveryStatus.SENT


async def test_reply_r_stops_sms_marketing_at_once_and_other_replies_count(
    client: TestClient, demo_engine: Engine
) -> None:
    with Session(demo_engine) as s:
        c = _customer(s)
        phone, customer_id = c.phone, c.id
        s.query(MarketingConsent).filter_by(customer_id=customer_id).delete()
        s.add(MarketingConsent(customer_id=customer_id, channel="all", granted=True, source="开户签约"))
        _sent_sms(s, c, "festival:reply", "2640:r")
        s.commit()
    # An ordinary answer is credited to the message it answers (reply rate).
    resp = await client.post("/sms/tencent/reply", json={"extend": "", "mobile": phone, "nationcode": "86",
                                                         "sign": "XX农商银行", "text": "谢谢，也祝你们新年好",
                                                         "time": int(NOW.timestamp())})
    assert resp.status == 200
    with Session(demo_engine) as s:
        d = s.scalars(select(Delivery).where(Delivery.idempotency_key == "festival:reply")).one()
        assert d.replied_at is not None and d.opted_out_at is None
        assert marketing_allowed(s, [customer_id], "sms")[customer_id]
    # "Ｒ" (full width) as Alibaba pushes it: SMS marketing off, audited, WeChat untouched.
    resp = await client.post("/sms/aliyun/reply", json=[{"phone_number": phone, "send_time": "2027-02-06 09:01:00",
                                                         "content": " Ｒ ", "sign_name": "XX农商银行",
                                                         "dest_code": "", "sequence_id": 7}])
    assert resp.status == 200 and await resp.json() == ALIYUN_ACK
    with Session(demo_engine) as s:
        assert not marketing_allowed(s, [customer_id], "sms")[customer_id]
        assert marketing_allowed(s, [customer_id], "wechat")[customer_id]
        audit = s.scalars(select(AuditEvent).where(AuditEvent.customer_id == customer_id,
                                                   AuditEvent.action == "marketing_opt_out")).one()
        assert audit.detail["channel"] == "sms" and audit.detail["source"] == "短信退订"
        inbound = s.scalars(select(SmsInbound).where(SmsInbound.phone == phone).order_by(SmsInbound.id)).all()
        assert [i.is_opt_out for i in inbound] == [False, True]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/sms/tencent/report", b"not json"),
        ("/sms/tencent/report", b"[{\"mobile\": \"13800000000\"}]"),  # no sid
        ("/sms/tencent/reply", b"[1, 2]"),
        ("/sms/aliyun/report", b"{\"phone_number\": {\"x\": 1}, \"biz_id\": \"b\"}"),
        ("/sms/aliyun/reply", b"[{\"phone_number\": \"1380000000012345678901234\", \"content\": \"R\"}]"),
        ("/sms/aliyun/reply", "[{\"phone_number\": \"\ud800\"}]".encode("utf-8", "surrogatepass")),
    ],
)
async def test_bad_payloads_are_400(client: TestClient, path: str, body: bytes) -> None:
    resp = await client.post(path, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400


async def test_a_real_provider_needs_the_callback_token(demo_engine: Engine) -> None:
    report = [{"mobile": "13800000000", "report_status": "SUCCESS", "errmsg": "DELIVRD", "sid": "s"}]
    settings = dataclasses.replace(Settings(), sms_backend="tencent")
    c = await _client(demo_engine, settings)
    try:
        assert (await c.post("/sms/tencent/report", json=report)).status == 403  # no token configured
    finally:
        await c.close()
    c = await _client(demo_engine, Settings.from_env({"SMS_BACKEND": "tencent", "SMS_CALLBACK_TOKEN": "s3cret-callback"}))
    try:
        assert (await c.post("/sms/tencent/report", json=report)).status == 403
        assert (await c.post("/sms/tencent/report?token=wrong", json=report)).status == 403
        assert (await c.post("/sms/tencent/report?token=s3cret-callback", json=report)).status == 200
    finally:
        await c.close()


async def test_a_report_faster_than_the_record_of_its_send_is_asked_again_and_counted_once(
    client: TestClient, demo_engine: Engine
) -> None:
    with Session(demo_engine) as s:
        c = _customer(s)
        phone = c.phone
        s.add(SmsMessage(delivery_key="k:early", phone=phone, provider="tencent", template_key="birthday_greeting",
                         segments=1, status="pending", attempts=1, code="ctx:abc"))
        s.commit()
    report = [{"mobile": phone, "report_status": "FAIL", "errmsg": "MN:0001", "description": "空号", "sid": "2640:e"}]
    resp = await client.post("/sms/tencent/report", json=report)
    assert resp.status == 503  # the dispatcher has not recorded SerialNo 2640:e yet: push again
    with Session(demo_engine) as s:
        row = s.scalars(select(SmsMessage).where(SmsMessage.delivery_key == "k:early")).one()
        row.status, row.provider_message_id = "sent", "2640:e"
        s.commit()
    for _ in range(2):  # the provider's retry, and a duplicate push
        resp = await client.post("/sms/tencent/report", json=report)
        assert resp.status == 200
    with Session(demo_engine) as s:
        assert s.scalars(select(SmsMessage.status).where(SmsMessage.delivery_key == "k:early")).one() == "undelivered"
        assert s.get_one(SmsReach, phone).hard_failures == 1


async def test_an_sms_survey_answer_is_thanked_by_sms_through_the_provider(demo_engine: Engine) -> None:
    """The reply "5" to an SMS survey invitation: recorded by the survey module, and the
    survey_thanks template goes back to that number through the Tencent SDK and the sandbox."""
    from care import survey_defs
    from crm.models import Survey, SurveyResponse
    from gateway.sms_callbacks import SURVEY_THANKS
    from outbound.sms.sandbox.app import SmsSandboxSettings
    from outbound.sms.sandbox.runner import sandbox_in_thread

    definition = {
        "code": "test_sms_thanks", "name": "测试：短信调查致谢", "channels": "sms_only",
        "audience": {"event": "ticket_resolved", "delay_days": 1}, "sms_template": "survey_csat_invite",
        "questions": [{"code": "csat", "kind": "csat", "text": "您对处理结果满意吗？请回复1到5分。"}],
    }
    with Session(demo_engine) as s:
        c = _customer(s)
        phone, customer_id = c.phone, c.id
        survey_defs.load_into_db(s, [survey_defs.parse(definition)])
        survey_id = s.scalars(select(Survey.id).where(Survey.code == "test_sms_thanks")).one()
        s.add(Delivery(customer_id=customer_id, idempotency_key="survey:thanks-test", channel="sms",
                       is_marketing=False, text="【XX农商银行】…", status=DeliveryStatus.SENT, not_before=NOW,
                       sent_at=NOW, local_day=NOW.date()))
        s.add(SurveyResponse(survey_id=survey_id, customer_id=customer_id, delivery_key="survey:thanks-test",
                             channel="sms", trigger="ticket_resolved", invited_on=NOW.date(),
                             expires_at=NOW + dt.timedelta(days=3)))
        s.commit()
    with sandbox_in_thread(SmsSandboxSettings(gateway_url="", report_delay_s=0)) as (url, box):
        c = await _client(demo_engine, dataclasses.replace(Settings(), sms_endpoint=url))
        try:
            resp = await c.post("/sms/tencent/reply", json={"extend": "", "mobile": phone, "nationcode": "86",
                                                            "sign": "XX农商银行", "text": "5",
                                                            "time": int(NOW.timestamp())})
            assert resp.status == 200
            await c.server.app[SURVEY_THANKS].drain()
        finally:
            await c.close()
        [thanks] = box.inboxes.messages(phone)
    assert thanks.template_key == "survey_thanks"
    assert thanks.text.startswith("【XX农商银行】已收到您的回复，感谢您")
    with Session(demo_engine) as s:
        sms = s.scalars(select(SmsMessage).where(SmsMessage.template_key == "survey_thanks")).one()
        assert (sms.status, sms.phone, sms.customer_id) == ("sent", phone, customer_id)
        assert sms.provider_message_id == thanks.message_id
        response = s.scalars(select(SurveyResponse).where(SurveyResponse.delivery_key == "survey:thanks-test")).one()
        assert response.status == "completed"


@pytest.mark.parametrize("exposure", [{"GATEWAY_HOST": "0.0.0.0"},  # noqa: S104 - the setting under test
                                      {"PUBLIC_URL": "https://kf.example-bank.cn"},
                                      {"TRUSTED_PROXIES": "127.0.0.1"}])
async def test_an_exposed_sandbox_gateway_takes_no_push_without_the_token(
    demo_engine: Engine, exposure: dict[str, str]
) -> None:
    """Probe: a reachable gateway left on SMS_BACKEND=sandbox took anyone's forged 退订 for any phone."""
    with Session(demo_engine) as s:
        phone = _customer(s).phone
    reply = {"extend": "", "mobile": phone, "nationcode": "86", "sign": "XX农商银行", "text": "TD",
             "time": int(NOW.timestamp())}
    c = await _client(demo_engine, Settings.from_env({"SMS_BACKEND": "sandbox", **exposure}))
    try:
        assert (await c.post("/sms/tencent/reply", json=reply)).status == 403
    finally:
        await c.close()
    with Session(demo_engine) as s:
        assert s.scalars(select(SmsInbound)).all() == []
    token = {"SMS_CALLBACK_TOKEN": "s3cret-callback"}
    c = await _client(demo_engine, Settings.from_env({"SMS_BACKEND": "sandbox", **exposure, **token}))
    try:
        assert (await c.post("/sms/tencent/reply?token=s3cret-callback", json=reply)).status == 200
    finally:
        await c.close()
