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
Sending nothing twice is the promise the bank cares about more. Concurrent sends share these
bookkeeping transactions (``core/group_commit.py``): a key's ``sending`` is still committed
before its call and its outcome after it, only the commits are fewer.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, NamedTuple, TypeVar

import aiohttp
from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_engine, make_sessionmaker, run_in_session, session_scope
from core.group_commit import GroupCommit
from core.metrics import get_metrics
from core.settings import Settings
from crm.access.conversations import open_conversation, record_message
from crm.models import utcnow
from crm.models.outbound import OutboundSend
from crm.models.outbound import OutboundSendStatus as Key
from outbound.contract import BatchSmsSender, DeliveryView, SendOutcome, SendStatus
from outbound.wechat_api import SendResult, WeChatApiClient, WeChatApiSettings

log = logging.getLogger(__name__)
WINDOW = dt.timedelta(hours=48)
SERVICE_TEMPLATE_ID = "TM_SERVICE_NOTICE"
T = TypeVar("T")
R = TypeVar("R")
_SENDS: Table = OutboundSend.__table__  # type: ignore[assignment]  # the Core table
IN_PROGRESS = "in_progress"  # retry reason: another sender is delivering this key right now
# Keys a send may claim: reserved with their message and never tried, or failed temporarily.
_REOPEN = (Key.PENDING, Key.RETRY)

Claim = Literal["new", "sent", "failed", "in_flight", "busy"]


class Finish(NamedTuple):
    """The recorded outcome of one claimed key."""

    key: str
    status: Key
    route: str
    reason: str | None


MessageKind = Literal["marketing", "service", "conversation"]


class DeliveryState(StrEnum):
    """What the RM console shows next to a message (``messages.delivery_status``; gateway/console/panel.py)."""

    SENT = "sent"
    OUTSIDE_WINDOW = "outside_window"  # WeChat's 48-hour window had closed
    QUOTA = "quota"  # WeChat's sending quota used up
    FAILED = "failed"
    UNKNOWN = "unknown"  # may or may not have reached the customer: staff check


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
    if outcome.status == SendStatus.SENT:
        return DeliveryState.SENT
    if reason == "outside_48h_window":
        return DeliveryState.OUTSIDE_WINDOW
    if reason == "quota_exceeded":
        return DeliveryState.QUOTA
    if reason in _KNOWN_FAILURES or reason.startswith("wechat_failed_"):
        return DeliveryState.FAILED
    return DeliveryState.UNKNOWN  # e.g. ambiguous: the message may or may not have reached the customer


class OutboundSender:
    """Implements ``outbound.contract.Sender`` (``send``) and sends handoff messages (``send_message``).

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
        sms: BatchSmsSender | None = None,
    ) -> None:
        self.factory = session_factory
        self.wechat = wechat
        # Campaign SMS: the dispatcher hands them over in batches (outbound/sms/dispatch.py).
        self.sms = sms
        self.template_id = service_template_id
        # Concurrent WeChat sends share their bookkeeping transactions (see core/group_commit.py):
        # each key is still marked ``sending`` (committed) before its call and ``sent`` after it.
        self._claims: GroupCommit[str, tuple[Claim, str | None]] = GroupCommit(self._tx(self._claim_many))
        self._finishes: GroupCommit[Finish, None] = GroupCommit(self._tx(self._finish_many))

    def _tx(self, work: Callable[[Session, Sequence[R]], Sequence[T]]) -> Callable[[Sequence[R]], Sequence[T]]:
        def run(requests: Sequence[R]) -> Sequence[T]:
            with session_scope(self.factory) as session:
                return work(session, requests)

        return run

    def attach_wechat(self, client: WeChatApiClient) -> None:
        """Use ``client`` from now on (the gateway creates it when the app starts)."""
        self.wechat = client

    async def _db(self, work: Callable[[Session], T]) -> T:
        return await run_in_session(self.factory, work)

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
        if row is not None and row.status == Key.SENT:
            return SendOutcome.sent()
        if not m.external_id:
            return SendOutcome.failed("no_web_identity")
        if row is None:
            row = OutboundSend(idempotency_key=m.idempotency_key, channel="web", message_id=m.message_id)
            session.add(row)
        row.route, row.status, row.updated_at = "web", Key.SENT, utcnow()
        if m.message_id is None:
            # A campaign message: written here, with its key; the page pushes it from the database.
            conv = open_conversation(session, "web", m.external_id)
            record_message(session, conv, "out", "campaign", m.text)
        return SendOutcome.sent()

    def _claim_many(self, session: Session, keys: Sequence[str]) -> list[tuple[Claim, str | None]]:
        """Claim each key for sending (one transaction for the round); with the earlier reason for
        keys that failed before. Of two claims of one key only one is ``new``."""
        table = _SENDS
        found = {
            r.idempotency_key: r
            for r in session.execute(
                select(table.c.id, table.c.idempotency_key, table.c.status, table.c.reason).where(
                    table.c.idempotency_key.in_(set(keys))
                )
            )
        }
        missing = sorted({k for k in keys if k not in found})
        inserted: set[str] = set()
        if missing:
            now = utcnow()
            rows = [
                {"idempotency_key": k, "channel": "wechat", "route": "", "status": Key.SENDING,
                 "created_at": now, "updated_at": now}
                for k in missing
            ]  # fmt: skip
            stmt = _dialect_insert(session)(table).on_conflict_do_nothing(index_elements=["idempotency_key"])
            inserted = set(session.execute(stmt.returning(table.c.idempotency_key), rows).scalars())
        # pending: reserved with its message (handoff), never tried; retry: failed temporarily.
        # Conditional, so that of two racing claims only one sends.
        reopen = [r.id for r in found.values() if r.status in _REOPEN]
        won: set[int] = set()
        if reopen:
            won = set(
                session.execute(
                    update(table)
                    .where(table.c.id.in_(reopen), table.c.status.in_(_REOPEN))
                    .values(status=Key.SENDING, updated_at=utcnow())
                    .returning(table.c.id)
                ).scalars()
            )
        answers: list[tuple[Claim, str | None]] = []
        given: set[str] = set()
        for key in keys:
            row = found.get(key)
            if key in given:
                answers.append(("busy", None))  # the same key twice in one round: the first sends
            elif row is None:
                # Not inserted: another process inserted it a moment ago and is sending it.
                answers.append(("new", None) if key in inserted else ("in_flight", None))
            elif row.status == Key.SENT:
                answers.append(("sent", None))
            elif row.status == Key.FAILED:
                # A permanent failure recorded earlier; a retryable one is stored as 'retry'.
                answers.append(("failed", row.reason))
            elif row.status in _REOPEN:
                answers.append(("new", None) if row.id in won else ("busy", None))
            else:
                answers.append(("in_flight", None))
            given.add(key)
        return answers

    def _finish_many(self, session: Session, finishes: Sequence[Finish]) -> list[None]:
        # One UPDATE per distinct outcome (usually one: all sent by the same route), not one per
        # key: a round of hundreds of sends costs a statement, not hundreds of round trips.
        table = _SENDS
        groups: dict[tuple[str, str, str | None], list[str]] = {}
        last = {f.key: f for f in finishes}  # a key finished twice in a round: the later one counts
        for f in last.values():
            groups.setdefault((f.status, f.route, (f.reason or "")[:64] or None), []).append(f.key)
        now = utcnow()
        conn = session.connection()
        for (status, route, reason), keys in groups.items():
            conn.execute(
                update(table)
                .where(table.c.idempotency_key.in_(keys))
                .values(status=status, route=route, reason=reason, updated_at=now)
            )
        return [None] * len(finishes)

    async def _finish(self, key: str, status: Key, route: str, reason: str | None) -> None:
        await self._finishes.submit(Finish(key, status, route, reason))

    async def _send_wechat(self, m: OutboundMessage) -> SendOutcome:
        key = m.idempotency_key
        if self.wechat is None:
            return SendOutcome.failed("wechat_not_configured")
        if not m.external_id:
            return SendOutcome.failed("no_wechat_identity")
        claim, earlier = await self._claims.submit(key)
        if claim == "sent":
            return SendOutcome.sent()
        if claim == "failed":
            # Decided earlier: say why again (the console keeps showing the same state).
            return SendOutcome.failed(earlier or "already_failed")
        if claim == "busy":
            # Another sender claimed it a moment ago: theirs to finish and record.
            return SendOutcome.retry(IN_PROGRESS)
        if claim == "in_flight":
            await self._finish(key, Key.FAILED, "", "ambiguous_after_crash")
            return SendOutcome.failed("ambiguous_after_crash")
        in_window = m.last_inbound_at is not None and utcnow() - m.last_inbound_at < WINDOW
        result: SendResult | None = None
        route = "custom"
        if in_window:
            result = await self.wechat.send_text(m.external_id, m.text)
        if result is None or result.status == "outside_window":
            if m.kind != "service":
                await self._finish(key, Key.FAILED, "custom", "outside_48h_window")
                return SendOutcome.failed("outside_48h_window")
            route = "template"
            result = await self.wechat.send_template(
                m.external_id, self.template_id, {"first": m.text, "remark": "如有疑问请回复消息或致电网点。"}
            )
        if result.ok:
            await self._finish(key, Key.SENT, route, None)
            return SendOutcome.sent()
        if result.status in ("network_error", "quota_exceeded", "token_error"):
            await self._finish(key, Key.RETRY, route, result.status)
            return SendOutcome.retry(result.status)
        # "failed", "ambiguous" (the call may have reached WeChat and its answer was lost) and any
        # outcome this module does not know: permanent, never re-sent.
        await self._finish(key, Key.FAILED, route, result.status)
        if result.status == "ambiguous":
            return SendOutcome.failed("ambiguous")
        return SendOutcome.failed(f"wechat_{result.status}_{result.errcode}")


def _dialect_insert(session: Session) -> Any:
    """``insert`` with ON CONFLICT for this session's database (PostgreSQL or SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def create_sender(settings: Settings) -> OutboundSender:
    """The sender the care scheduler uses (called inside its event loop)."""
    factory = make_sessionmaker(make_engine(settings.database_url))
    http = aiohttp.ClientSession()
    wechat = WeChatApiClient(WeChatApiSettings.from_settings(settings), factory, http, token_memory_s=30.0)
    return OutboundSender(factory, wechat, sms=create_sms_sender(settings, factory))


def create_sms_sender(settings: Settings, factory: sessionmaker[Session]) -> BatchSmsSender | None:
    """The campaign SMS sender for ``SMS_BACKEND``; None (SMS rows wait) when its account is incomplete."""
    from core.settings import ConfigError
    from outbound.sms.config import make_sms_provider
    from outbound.sms.dispatch import SmsDispatchSender

    try:
        make_sms_provider(settings)
    except ConfigError as exc:
        log.warning("短信通道未配置，短信将等待发送: %s", exc)
        return None
    # The sandbox lists what it accepted at once; a real provider may take minutes.
    settle = 0.0 if settings.sms_backend == "sandbox" else 600.0
    return SmsDispatchSender(factory, lambda: make_sms_provider(settings), settle_s=settle)
