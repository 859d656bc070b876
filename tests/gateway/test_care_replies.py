"""A customer's answer on WeChat or web chat counts as the reply to the care message it follows (#21)."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from care import report
from crm.models import ChannelIdentity, Delivery
from crm.models.care import DeliveryStatus
from gateway.chat_types import InboundMessage
from gateway.keys import CHAT, SESSION_FACTORY
from tests.gateway.console.support import db_url, fake_rasa, gateway, template_db  # noqa: F401 - fixtures
from tests.gateway.console.test_campaigns import CODE, seed_campaign_results


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
    chat = gateway.app[CHAT]
    await chat.handle_message(InboundMessage(channel="wechat", user_id=users[0], text="谢谢银行，新年快乐"))
    await chat.handle_message(InboundMessage(channel="wechat", user_id=users[0], text="我还想问问存款利率"))
    await chat.handle_message(InboundMessage(channel="wechat", user_id=users[1], text="收到"))
    with factory() as s:
        assert s.get(Delivery, fresh_id).replied_at is not None  # type: ignore[union-attr]
        assert s.get(Delivery, stale_id).replied_at is None  # type: ignore[union-attr]
        assert report.build(s, CODE).metrics["replied"] == before + 1
