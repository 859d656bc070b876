"""The handoff as the gateway runs it: transactions, effects after commit, and the sweeper task.

Every out-of-turn message (RM replies, queue updates, the rating question) goes to the customer
through the outbound sender (``outbound.sender``), like campaign messages: one idempotency key per
message, WeChat's 48-hour window, every attempt in ``outbound_sends``. Its delivery state is stored
on the message for the console.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from core.db import session_scope
from crm import wechat_store as store
from crm.access.conversations import ConversationRef
from crm.access.send_keys import send_key_of
from crm.models import ChannelIdentity, Conversation, Message, utcnow
from gateway.antifraud import FraudAlert
from gateway.chat_types import BotReply
from gateway.handoff.machine import Effects, HandoffMachine
from gateway.handoff.settings import HandoffSettings
from gateway.handoff.texts import parse_score
from gateway.handoff.timeouts import SweepReport, sweep
from gateway.rasa_client import RasaClient, RasaUnavailable
from outbound.contract import SendOutcome
from outbound.sender import IN_PROGRESS, DeliveryState, OutboundMessage, OutboundSender, delivery_state

log = logging.getLogger(__name__)
T = TypeVar("T")


def _numbered_for_wechat(session: Session, openid: str, text: str, buttons: list[dict[str, str]]) -> str:
    """WeChat has no buttons: choices read "回复 1：…" and the number the customer sends is resolved
    like a passive reply's choices. The rating question already says "回复 1–5 分": number n is score n."""
    payloads = [b["payload"] for b in buttons]
    if payloads and all(p.startswith("/rate_service") for p in payloads):
        store.save_choices(session, openid, sorted(payloads, key=lambda p: parse_score(p) or 0))
        return text
    store.save_choices(session, openid, payloads)
    lines = [f"回复 {i}：{b['title']}" for i, b in enumerate(buttons, start=1)]
    return text + "\n" + "\n".join(lines)


class HandoffService:
    """Runs the state machine in worker threads and carries out its effects afterwards.

    Args:
        settings: timeouts and working hours.
        session_factory: crm sessionmaker.
        rasa: for tracker pause/resume and recording while the bot is silent.
        sender: delivers out-of-turn messages (default: one without WeChat, so web chat only).
    """

    def __init__(
        self,
        settings: HandoffSettings,
        session_factory: sessionmaker[Session],
        rasa: RasaClient,
        sender: OutboundSender | None = None,
    ) -> None:
        self.settings = settings
        self.machine = HandoffMachine(settings)
        self.factory = session_factory
        self.rasa = rasa
        self.sender = sender or OutboundSender(session_factory, wechat=None)

    # --- running work --------------------------------------------------------------------------

    async def run(self, work: Callable[[Session, Effects], T]) -> T:
        """``work(session, effects)`` in one transaction, then its effects (after the commit)."""
        fx = Effects()

        def in_thread() -> T:
            with session_scope(self.factory) as session:
                return work(session, fx)

        result = await asyncio.to_thread(in_thread)
        await self.apply(fx)
        return result

    async def apply(self, fx: Effects) -> None:
        """Tracker events first (in order), then pushes; failures are logged, never raised."""
        for sender_id, events in fx.tracker:
            try:
                await self.rasa.append_events(sender_id, [await self._parsed(e) for e in events])
            except RasaUnavailable as exc:
                # The database transcript is complete; the tracker only misses this part.
                log.warning("tracker update skipped (%s): %s", events[0].get("event"), exc)
        for message_id in fx.push:
            await self._deliver(message_id)

    async def _parsed(self, event: dict[str, Any]) -> dict[str, Any]:
        """A customer message for the paused tracker, with what Rasa's NLU makes of it.

        Rasa refuses a ``user`` event without ``parse_data``; the real parse (intent, entities)
        also keeps the tracker's history meaningful for the bot once it resumes.
        """
        if event.get("event") != "user" or "parse_data" in event:
            return event
        return {**event, "parse_data": await self.rasa.parse(str(event.get("text", "")))}

    async def _deliver(self, message_id: int) -> None:
        def load(session: Session) -> OutboundMessage | None:
            msg = session.get(Message, message_id)
            conv = session.get(Conversation, msg.conversation_id) if msg else None
            identity = session.get(ChannelIdentity, conv.identity_id) if conv else None
            if msg is None or identity is None:
                return None
            text = msg.text
            if msg.buttons_json and identity.channel == "wechat":
                text = _numbered_for_wechat(session, identity.external_id, text, json.loads(msg.buttons_json))
            return OutboundMessage(
                idempotency_key=send_key_of(session, msg.id) or f"handoff:{msg.id}",
                channel=identity.channel,
                external_id=identity.external_id,
                last_inbound_at=identity.last_inbound_at,
                text=text,
                kind="conversation",
                message_id=msg.id,
            )

        message = await self._sync(load)
        if message is None:
            return
        try:
            outcome = await self.sender.send_message(message)
        except Exception:  # noqa: BLE001 - a failed send must not break the RM's request
            log.exception("handoff message %s: send failed", message_id)
            outcome = SendOutcome.failed("exception")
        if outcome.reason == IN_PROGRESS:
            return  # another gateway is sending it and will record the state
        state = delivery_state(outcome)
        if state != DeliveryState.SENT:
            log.info("handoff message %s not delivered: %s", message_id, outcome.reason)

        def mark(session: Session) -> None:
            msg = session.get(Message, message_id)
            if msg is not None:
                msg.delivery_status = state

        await self._sync(mark)

    async def _sync(self, work: Callable[[Session], T]) -> T:
        def in_thread() -> T:
            with session_scope(self.factory) as session:
                return work(session)

        return await asyncio.to_thread(in_thread)

    # --- hooks used by ConversationService (inside its transactions) ----------------------------

    def may_intercept(self, conv: ConversationRef, text: str) -> bool:
        return self.machine.may_intercept(conv, text)

    def intercept(
        self, session: Session, conv: Conversation, text: str, fx: Effects
    ) -> list[BotReply] | None:
        return self.machine.intercept(session, conv, text, fx)

    def may_act_after_bot(self, consecutive_fallbacks: int, text: str, controls: list[dict[str, Any]]) -> bool:
        return self.machine.may_act_after_bot(consecutive_fallbacks, text, controls)

    def after_bot(
        self, session: Session, conv: Conversation, text: str, controls: list[dict[str, Any]], fx: Effects
    ) -> list[BotReply]:
        return self.machine.after_bot(session, conv, text, controls, fx)

    def silent(self, session: Session, conv: Conversation, text: str, fx: Effects) -> list[BotReply]:
        return self.machine.silent(session, conv, text, fx)

    def queued_intercept(
        self, session: Session, conv: Conversation, text: str, fx: Effects
    ) -> list[BotReply] | None:
        return self.machine.queued_intercept(session, conv, text, fx)

    def queue_status(self, session: Session, conv: Conversation) -> list[BotReply]:
        return self.machine.queue_status(session, conv)

    def queue_reminder(self, session: Session, conv: Conversation) -> list[BotReply]:
        return self.machine.queue_reminder(session, conv)

    def fraud(self, session: Session, conv: Conversation, alert: FraudAlert, fx: Effects) -> list[BotReply]:
        return self.machine.fraud(session, conv, alert, fx)

    # --- background sweeper -------------------------------------------------------------------

    async def sweep_once(self, now: dt.datetime | None = None) -> SweepReport:
        return await self.run(lambda s, fx: sweep(self.machine, s, now or utcnow(), fx))

    async def sweeper(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: sweep every ``sweep_interval_s`` while the app runs."""
        task = asyncio.create_task(self._loop())
        yield
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    async def _loop(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep sweeping; the next pass retries
                log.exception("handoff sweep failed")
            await asyncio.sleep(self.settings.sweep_interval_s)
