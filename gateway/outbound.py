"""The one outbound sender: campaigns, RM replies and every other out-of-turn message to a customer.

Callers describe a message as an ``OutboundMessage``: campaign deliveries (``DeliveryView``, through
``send``) and handoff messages already stored in the conversation (``send_message``). What a kind
of message may do outside WeChat's 48-hour customer-service window:

- ``marketing``: nothing; it is skipped with the reason recorded;
- ``service`` (service notices such as reminders): a template message instead;
- ``conversation`` (RM replies, queue updates): nothing either; an RM's free text is not a
  template, and the console shows the RM that it did not arrive.

Web chat: a campaign message is written to the customer's conversation in the same transaction
that records the idempotency key, so it is delivered exactly once; a handoff message is already
stored, and the browser gets it over /ws. WeChat: customer-service text inside the window.

A WeChat call cannot be made atomic with the database. The key is marked ``sending`` before the
call and ``sent`` after it; a key found still ``sending`` after a crash is *not* re-sent (the
customer may already have it) but failed as ``ambiguous_after_crash`` for staff to check.
Sending nothing twice is the promise the bank cares about more.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import aiohttp
from sqlalchemy import select, update
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
T = TypeVar("T")
IN_PROGRESS = "in_progress"  # retry reason: another sender is delivering this key right now

Claim = Literal["new", "sent", "failed", "in_flight", "busy"]
MessageKind = Literal["marketing", "service", "conversation"]
# What the RM console shows next to a message (labels in gateway/console/panel.py).
DeliveryState = Literal["sent", "outside_window", "quota", "failed", "unknown"]
# Reasons of failures whose meaning is known: nothing reached the customer.
_KNOWN_FAILURES = frozenset(
    {"failed", "network_error", "token_error", "no_wechat_identity", "no_web_identity", "wechat_not_configured",
     "already_failed"}
)  # fmt: skip


@dataclass(frozen=True)
class OutboundMessage:
    """One message for one customer, whoever asked for it.

    Attributes:
        idempotency_key: the message's identity; a second send with the same key does nothing more.
        channel: ``wechat`` or ``web``.
        external_id: WeChat openid or web chat id.
        last_inbound_at: the customer's last message (opens WeChat's 48-hour window).
        kind: what may happen outside the window (see the module docstring).
        message_id: the conversation message this is (handoff); None: the sender stores it (campaign).
    """

    idempotency_key: str
    channel: str
    external_id: str | None
    last_inbound_at: dt.datetime | None
    text: str
    kind: MessageKind
    message_id: int | None = None

    @classmethod
    def from_delivery(cls, d: DeliveryView) -> OutboundMessage:
        kind: MessageKind = "marketing" if d.is_marketing else "service"
        return cls(d.idempotency_key, d.channel, d.external_id, d.last_inbound_at, d.text, kind)


def delivery_state(outcome: SendOutcome) -> DeliveryState:
    """What the customer got, for the console: unknown outcomes become ``unknown`` (staff check)."""
    reason = outcome.reason or ""
    if outcome.status == "sent":
        return "sent"
    if reason == "outside_48h_window":
        return "outside_window"
    if reason == "quota_exceeded":
        return "quota"
    if reason in _KNOWN_FAILURES or reason.startswith("wechat_failed_"):
        return "failed"
    return "unknown"  # e.g. ambiguous: the message may or may not have reached the customer


class OutboundSender:
    """Implements ``care_scheduler.sender.Sender`` (``send``) and sends handoff messages (``send_message``).

    Args:
        session_factory: crm sessionmaker (idempotency keys in ``outbound_sends``).
        wechat: the WeChat API client; None until attached (``attach_wechat``) or when not configured.
        service_template_id: template for service notices outside the 48-hour window.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        wechat: WeChatApiClient | None,
        service_template_id: str = SERVICE_TEMPLATE_ID,
    ) -> None:
        self.factory = session_factory
        self.wechat = wechat
        self.template_id = service_template_id

    def attach_wechat(self, client: WeChatApiClient) -> None:
        """Use ``client`` from now on (the gateway creates it when the app starts)."""
        self.wechat = client

    async def _db(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with session_scope(self.factory) as session:
                return work(session)

        return await asyncio.to_thread(run)

    async def send(self, delivery: DeliveryView) -> SendOutcome:
        """A campaign delivery (the dispatcher's ``Sender`` protocol)."""
        return await self.send_message(OutboundMessage.from_delivery(delivery))

    async def send_message(self, message: OutboundMessage) -> SendOutcome:
        """Deliver ``message`` once per idempotency key and say how it went."""
        if message.channel == "web":
            outcome: SendOutcome = await self._db(lambda s: self._send_web(s, message))
        elif message.channel == "wechat":
            outcome = await self._send_wechat(message)
        else:
            outcome = SendOutcome.failed(f"unknown_channel:{message.channel}")
        get_metrics().deliveries.labels(channel=message.channel, status=outcome.status).inc()
        return outcome

    def _send_web(self, session: Session, m: OutboundMessage) -> SendOutcome:
        row = session.scalar(select(OutboundSend).where(OutboundSend.idempotency_key == m.idempotency_key))
        if row is not None and row.status == "sent":
            return SendOutcome.sent()
        if not m.external_id:
            return SendOutcome.failed("no_web_identity")
        if row is None:
            row = OutboundSend(idempotency_key=m.idempotency_key, channel="web", message_id=m.message_id)
            session.add(row)
        row.route, row.status, row.updated_at = "web", "sent", utcnow()
        if m.message_id is None:
            # A campaign message: written here, with its key; the page pushes it from the database.
            conv = open_conversation(session, "web", m.external_id)
            record_message(session, conv, "out", "campaign", m.text)
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
        if row.status in ("pending", "retry"):
            # pending: reserved with its message (handoff), never tried. Conditional, so that of two
            # racing claims only one sends.
            won = session.execute(
                update(OutboundSend)
                .where(OutboundSend.id == row.id, OutboundSend.status == row.status)
                .values(status="sending", updated_at=utcnow())
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            return "new" if won == 1 else "busy"
        return "in_flight"

    def _reason(self, session: Session, key: str) -> str | None:
        return session.scalar(select(OutboundSend.reason).where(OutboundSend.idempotency_key == key))

    def _finish(self, session: Session, key: str, status: str, route: str, reason: str | None) -> None:
        row = session.scalar(select(OutboundSend).where(OutboundSend.idempotency_key == key))
        if row is not None:
            row.status, row.route, row.reason, row.updated_at = status, route, (reason or None), utcnow()
            if row.reason:
                row.reason = row.reason[:64]

    async def _send_wechat(self, m: OutboundMessage) -> SendOutcome:
        key = m.idempotency_key
        if self.wechat is None:
            return SendOutcome.failed("wechat_not_configured")
        if not m.external_id:
            return SendOutcome.failed("no_wechat_identity")
        claim: Claim = await self._db(lambda s: self._claim(s, key))
        if claim == "sent":
            return SendOutcome.sent()
        if claim == "failed":
            # Decided earlier: say why again (the console keeps showing the same state).
            earlier = await self._db(lambda s: self._reason(s, key))
            return SendOutcome.failed(earlier or "already_failed")
        if claim == "busy":
            # Another sender claimed it a moment ago: theirs to finish and record.
            return SendOutcome.retry(IN_PROGRESS)
        if claim == "in_flight":
            await self._db(lambda s: self._finish(s, key, "failed", "", "ambiguous_after_crash"))
            return SendOutcome.failed("ambiguous_after_crash")
        in_window = m.last_inbound_at is not None and utcnow() - m.last_inbound_at < WINDOW
        result: SendResult | None = None
        route = "custom"
        if in_window:
            result = await self.wechat.send_text(m.external_id, m.text)
        if result is None or result.status == "outside_window":
            if m.kind != "service":
                await self._db(lambda s: self._finish(s, key, "failed", "custom", "outside_48h_window"))
                return SendOutcome.failed("outside_48h_window")
            route = "template"
            result = await self.wechat.send_template(
                m.external_id, self.template_id, {"first": m.text, "remark": "如有疑问请回复消息或致电网点。"}
            )
        if result.ok:
            await self._db(lambda s: self._finish(s, key, "sent", route, None))
            return SendOutcome.sent()
        if result.status in ("network_error", "quota_exceeded", "token_error"):
            await self._db(lambda s: self._finish(s, key, "retry", route, result.status))
            return SendOutcome.retry(result.status)
        # "failed", "ambiguous" (the call may have reached WeChat and its answer was lost) and any
        # outcome this module does not know: permanent, never re-sent.
        await self._db(lambda s: self._finish(s, key, "failed", route, result.status))
        if result.status == "ambiguous":
            return SendOutcome.failed("ambiguous")
        return SendOutcome.failed(f"wechat_{result.status}_{result.errcode}")


def create_sender(settings: Settings) -> OutboundSender:
    """The sender the care scheduler uses (called inside its event loop)."""
    factory = make_sessionmaker(make_engine(settings.database_url))
    http = aiohttp.ClientSession()
    wechat = WeChatApiClient(WeChatSettings.from_settings(settings), factory, http)
    return OutboundSender(factory, wechat)
