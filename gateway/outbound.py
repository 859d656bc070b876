"""The one outbound sender for campaigns (and anything else that messages a customer later).

Web chat: the message is written to the customer's conversation, in the same transaction that
records the idempotency key, so it is delivered exactly once; the browser gets it over /ws.
WeChat: customer-service text inside the 48-hour window; outside it, service notices fall back
to a template message and marketing is skipped with the reason recorded.

A WeChat call cannot be made atomic with the database. The key is marked ``sending`` before the
call and ``sent`` after it; a key found still ``sending`` after a crash is *not* re-sent (the
customer may already have it) but failed as ``ambiguous_after_crash`` for staff to check.
Sending nothing twice is the promise the bank cares about more.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Literal

import aiohttp
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bankcare.metrics import get_metrics
from bankcare.settings import Settings
from care_scheduler.sender import DeliveryView, SendOutcome
from crm.access.conversations import open_conversation, record_message
from crm.db import make_engine, make_sessionmaker, session_scope
from crm.models import utcnow
from crm.models.outbound import OutboundSend
from gateway.wechat.api_client import SendResult, WeChatApiClient
from gateway.wechat.settings import WeChatSettings

WINDOW = dt.timedelta(hours=48)
SERVICE_TEMPLATE_ID = "TM_SERVICE_NOTICE"

Claim = Literal["new", "sent", "failed", "in_flight"]


class OutboundSender:
    """Implements ``care_scheduler.sender.Sender``."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        wechat: WeChatApiClient | None,
        service_template_id: str = SERVICE_TEMPLATE_ID,
    ) -> None:
        self.factory = session_factory
        self.wechat = wechat
        self.template_id = service_template_id

    async def _db(self, work):  # type: ignore[no-untyped-def]
        def run():  # type: ignore[no-untyped-def]
            with session_scope(self.factory) as session:
                return work(session)

        return await asyncio.to_thread(run)

    async def send(self, delivery: DeliveryView) -> SendOutcome:
        if delivery.channel == "web":
            outcome: SendOutcome = await self._db(lambda s: self._send_web(s, delivery))
        elif delivery.channel == "wechat":
            outcome = await self._send_wechat(delivery)
        else:
            outcome = SendOutcome.failed(f"unknown_channel:{delivery.channel}")
        get_metrics().deliveries.labels(channel=delivery.channel, status=outcome.status).inc()
        return outcome

    def _send_web(self, session: Session, d: DeliveryView) -> SendOutcome:
        if session.scalar(select(OutboundSend.id).where(OutboundSend.idempotency_key == d.idempotency_key)):
            return SendOutcome.sent()
        if not d.external_id:
            return SendOutcome.failed("no_web_identity")
        session.add(
            OutboundSend(idempotency_key=d.idempotency_key, channel="web", route="web", status="sent")
        )
        conv = open_conversation(session, "web", d.external_id)
        record_message(session, conv, "out", "campaign", d.text)
        return SendOutcome.sent()

    def _claim(self, session: Session, key: str) -> Claim:
        row = session.scalar(select(OutboundSend).where(OutboundSend.idempotency_key == key))
        if row is None:
            try:
                with session.begin_nested():
                    session.add(OutboundSend(idempotency_key=key, channel="wechat", status="sending"))
            except IntegrityError:
                return "in_flight"
            return "new"
        if row.status == "sent":
            return "sent"
        if row.status == "failed":
            # A permanent failure recorded earlier; a retryable one is stored as 'retry' below.
            return "failed"
        if row.status == "retry":
            row.status = "sending"
            row.updated_at = utcnow()
            return "new"
        return "in_flight"

    def _finish(self, session: Session, key: str, status: str, route: str, reason: str | None) -> None:
        row = session.scalar(select(OutboundSend).where(OutboundSend.idempotency_key == key))
        if row is not None:
            row.status, row.route, row.reason, row.updated_at = status, route, reason, utcnow()

    async def _send_wechat(self, d: DeliveryView) -> SendOutcome:
        if self.wechat is None:
            return SendOutcome.failed("wechat_not_configured")
        if not d.external_id:
            return SendOutcome.failed("no_wechat_identity")
        claim: Claim = await self._db(lambda s: self._claim(s, d.idempotency_key))
        if claim == "sent":
            return SendOutcome.sent()
        if claim == "failed":
            return SendOutcome.failed("already_failed")
        if claim == "in_flight":
            await self._db(
                lambda s: self._finish(s, d.idempotency_key, "failed", "", "ambiguous_after_crash")
            )
            return SendOutcome.failed("ambiguous_after_crash")
        in_window = d.last_inbound_at is not None and utcnow() - d.last_inbound_at < WINDOW
        result: SendResult | None = None
        route = "custom"
        if in_window:
            result = await self.wechat.send_text(d.external_id, d.text)
        if result is None or result.status == "outside_window":
            if d.is_marketing:
                await self._db(
                    lambda s: self._finish(s, d.idempotency_key, "failed", "custom", "outside_48h_window")
                )
                return SendOutcome.failed("outside_48h_window")
            route = "template"
            result = await self.wechat.send_template(
                d.external_id, self.template_id, {"first": d.text, "remark": "如有疑问请回复消息或致电网点。"}
            )
        if result.ok:
            await self._db(lambda s: self._finish(s, d.idempotency_key, "sent", route, None))
            return SendOutcome.sent()
        if result.status in ("network_error", "quota_exceeded", "token_error"):
            await self._db(lambda s: self._finish(s, d.idempotency_key, "retry", route, result.status))
            return SendOutcome.retry(result.status)
        await self._db(lambda s: self._finish(s, d.idempotency_key, "failed", route, result.status))
        return SendOutcome.failed(f"wechat_{result.status}_{result.errcode}")


def create_sender(settings: Settings) -> OutboundSender:
    """The sender the care scheduler uses (called inside its event loop)."""
    factory = make_sessionmaker(make_engine(settings.database_url))
    http = aiohttp.ClientSession()
    wechat = WeChatApiClient(WeChatSettings.from_settings(settings), factory, http)
    return OutboundSender(factory, wechat)
