"""Unfollowing the WeChat account refuses WeChat marketing (through crm.care_access) and forgets the openid."""

from __future__ import annotations

import datetime as dt

import aiohttp
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.db import make_sessionmaker
from crm.care_access import marketing_allowed
from crm.models import ChannelIdentity, Customer, MarketingConsent
from gateway.conversation import ConversationService
from gateway.rasa_client import RasaClient

NOW = dt.datetime(2027, 2, 6, 2, 0, tzinfo=dt.UTC)


async def test_unfollow_refuses_wechat_only_and_anonymises_the_identity(demo_engine: Engine) -> None:
    factory = make_sessionmaker(demo_engine)
    with factory() as session:
        customer = session.scalars(select(Customer).order_by(Customer.id.desc()).limit(1)).one()
        session.query(MarketingConsent).filter_by(customer_id=customer.id).delete()
        session.add_all([
            MarketingConsent(customer_id=customer.id, channel="all", granted=True, source="开户签约"),
            MarketingConsent(customer_id=customer.id, channel="wechat", granted=True, source="开户签约"),
        ])
        session.add(ChannelIdentity(channel="wechat", external_id="o-unfollow-test", customer_id=customer.id,
                                    verified_at=NOW, subscribed=True))
        session.commit()
        customer_id = customer.id
        assert marketing_allowed(session, [customer_id], "wechat")[customer_id]

    async with aiohttp.ClientSession() as http:
        chat = ConversationService(factory, RasaClient("http://127.0.0.1:9", timeout_s=1, session=http))
        await chat.on_unsubscribe("wechat", "o-unfollow-test")

    with Session(demo_engine) as session:
        assert not marketing_allowed(session, [customer_id], "wechat")[customer_id]
        assert marketing_allowed(session, [customer_id], "sms")[customer_id]  # other channels keep their consent
        wechat = session.scalars(
            select(MarketingConsent).where(MarketingConsent.customer_id == customer_id,
                                           MarketingConsent.channel == "wechat")
        ).one()
        assert (wechat.granted, wechat.source) == (False, "取消关注")
        assert session.scalar(select(ChannelIdentity).where(ChannelIdentity.external_id == "o-unfollow-test")) is None
