"""A customer's answer on WeChat or web chat counts as the reply to the care message it follows (#21).

The answers go through the real ``/wechat`` route as signed, encrypted (safe mode) callbacks, as the
WeChat sandbox sends them."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from care import report
from core.settings import Settings
from crm.models import ChannelIdentity, Delivery
from crm.models.care import DeliveryStatus
from gateway.keys import SESSION_FACTORY, SETTINGS
from gateway.wechat.messages import render_xml
from gateway.wechat.sandbox import read_reply, sign_request
from gateway.wechat.settings import WeChatSettings
from tests.gateway.console.support import FakeRasa, db_url, fake_rasa, handoff_settings, template_db  # noqa: F401 - fixtures
from tests.gateway.console.test_campaigns import CODE, seed_campaign_results

ORIGINAL_ID = "gh_bankcare_care_test"


@pytest.fixture
async def gateway(db_url: str, fake_rasa: tuple[FakeRasa, str]) -> AsyncIterator[TestClient]:
    """The real gateway with WeChat in safe mode: only encrypted callbacks are accepted."""
    from gateway.app import create_app

    settings = Settings(database_url=db_url, rasa_url=fake_rasa[1], demo_mode=True, wechat_mode="safe",
                        extra={"wechat_original_id": ORIGINAL_ID})  # fmt: skip
    client = TestClient(TestServer(create_app(settings, handoff_settings())))
    await client.start_server()
    yield client
    await client.close()


async def _wechat_says(gateway: TestClient, openid: str, text: str, msg_id: int) -> str | None:
    """POST /wechat as WeChat does in safe mode (sandbox.sign_request); the decrypted passive reply."""
    wechat = WeChatSettings.from_settings(gateway.app[SETTINGS])
    xml = render_xml({"ToUserName": ORIGINAL_ID, "FromUserName": openid, "CreateTime": int(time.time()),
                      "MsgType": "text", "Content": text, "MsgId": 7_100_000_000 + msg_id})  # fmt: skip
    query, body = sign_request(wechat, xml, encrypt=True, original_id=ORIGINAL_ID)
    resp = await gateway.post("/wechat", params=query, data=body.encode("utf-8"),
                              headers={"Content-Type": "text/xml"})  # fmt: skip
    assert resp.status == 200, await resp.text()
    return read_reply(wechat, await resp.text())


async def test_a_wechat_answer_to_a_greeting_is_counted_once_in_the_report(gateway: TestClient) -> None:
    factory = gateway.app[SESSION_FACTORY]
    await seed_campaign_results(factory)  # sends the 春节 greeting (one reply recorded there already)
    now = dt.datetime.now(dt.UTC)
    with factory.begin() as s:
        before = report.build(s, CODE).metrics["replied"]
        sent = list(s.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.SENT, Delivery.replied_at.is_(None),
                                                     Delivery.identity_id.is_not(None)).order_by(Delivery.id)))  # fmt: skip
        fresh, stale = sent[0], sent[1]
        fresh.sent_at = now - dt.timedelta(hours=2)  # within the three-day window
        stale.sent_at = now - dt.timedelta(days=5)  # outside it: an answer is not credited
        users = []
        for d in (fresh, stale):
            identity = s.get(ChannelIdentity, d.identity_id)
            assert identity is not None
            identity.channel = "wechat"  # as the planner picks WeChat for a subscribed openid
            users.append(identity.external_id)
        fresh_id, stale_id = fresh.id, stale.id
    # The customers answer the way the WeChat sandbox (and WeChat) sends it: a signed, encrypted callback.
    # A passive reply means the message was handled (and any reply credited) before the response.
    for openid, text, msg_id in ((users[0], "谢谢银行，新年快乐", 1), (users[0], "我还想问问存款利率", 2), (users[1], "收到", 3)):
        assert await _wechat_says(gateway, openid, text, msg_id), text
    with factory() as s:
        assert s.get(Delivery, fresh_id).replied_at is not None  # type: ignore[union-attr]
        assert s.get(Delivery, stale_id).replied_at is None  # type: ignore[union-attr]
        assert report.build(s, CODE).metrics["replied"] == before + 1
