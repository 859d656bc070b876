"""The conversation core: records every message and decides who answers (bot or RM).

Implements ``gateway.chat_types.ChatService`` for every channel. Ownership (bot → queued →
agent → bot, closed) lives in the database so several gateway processes agree.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.db import run_in_session
from core.metrics import get_metrics
from crm.access.conversations import (
    ConversationKey,
    ConversationRef,
    NewMessage,
    find_conversation,
    open_conversation,
    record_message,
    record_messages,
    start_conversation,
)
from crm.access.identity import DEFAULT_POLICIES, VerificationPolicies, get_or_create_identity, note_activity, unbind
from crm.care_access import refuse_channel
from crm.models import AuditEvent, ChannelIdentity, Conversation, Message, utcnow
from crm.models.conversations import ConversationState
from gateway import texts
from gateway.antifraud import FraudAlert, detect
from gateway.care_replies import credit_care_reply
from gateway.chat_types import BotReply, Button, InboundMessage, TurnHooks
from gateway.handoff.machine import Effects
from gateway.rasa_client import RasaClient, RasaUnavailable, to_replies

if TYPE_CHECKING:
    from gateway.handoff.service import HandoffService
    from gateway.surveys import SurveyHook

log = logging.getLogger(__name__)
T = TypeVar("T")

RASA_DOWN_REPLY = BotReply(
    text="非常抱歉，系统暂时繁忙，您的留言我们已经记下了，不会丢失。您可以稍后再问，或者选择下面的方式：",
    buttons=(Button("转人工客服", "/request_human"), Button("给客户经理留言", "/leave_message")),
)
# Rasa answered but said nothing (e.g. the action server is down: Rasa logs the failed action and
# returns an empty list). Silence would leave the customer guessing, so say something polite.
NO_REPLY = BotReply(
    text="抱歉，这个问题我暂时没能处理好，您的留言已经记下了。您可以换个说法再问一次，或者选择下面的方式：",
    buttons=(Button("转人工客服", "/request_human"), Button("给客户经理留言", "/leave_message")),
)
# Rasa took the message but has not answered within the channel's deadline. It will still act on it
# (a card may get frozen), so its answer is delivered when it comes (``_deliver_late``).
RASA_SLOW_REPLY = BotReply(
    text="抱歉，系统现在有点忙，您的消息已经收到，处理好后会马上回复您，请不要重复发送。着急的话也可以：",
    buttons=(Button("转人工客服", "/request_human"), Button("给客户经理留言", "/leave_message")),
)
# How long a late answer is still awaited and delivered; after that Rasa is treated as down.
LATE_ANSWER_LIMIT_S = 60.0
# WeChat drops a passive reply after 5 s and the gateway gives up at 4.5 s (then answers through
# the customer-service API). Rasa must fail fast enough for the apology to make the passive reply,
# leaving time for the database work before and after the call.
CHANNEL_RASA_TIMEOUT_S: dict[str, float] = {"wechat": 3.5}
# The apology offers "转人工客服"; with Rasa down that payload cannot reach the bot, so the core
# produces the control the bot would have sent and the handoff queues the customer itself.
HUMAN_REQUEST_PAYLOAD = "/request_human"
# Words the bot itself asks customers to type (a long statement ends "回复“更多”继续查看"), sent to
# Rasa as the button they stand for: a fixed word needs no NLU examples and no retraining.
TYPED_COMMANDS: dict[str, str] = {"更多": "/show_more", "下一页": "/show_more", "继续查看": "/show_more"}
WELCOME = (
    "您好，欢迎关注农商银行！我是智能客服小农，7×24小时在线。\n"
    "查余额、查明细、卡片挂失、预约网点、咨询存款贷款，直接发消息问我就行。\n"
    "首次查询账户需要先绑定：回复“绑定账户”，按提示完成验证即可。"
)

# Said once, before the bot's answer, to the first message after a verification lapsed
# (crm.access.identity.note_activity); an account question then gets the binding invitation.
VERIFICATION_LAPSED_REPLY = BotReply(text="为了您的资金安全，长时间未操作需要重新验证身份。")


def as_command(text: str) -> str:
    """The button payload a typed command word stands for, else the text itself."""
    return TYPED_COMMANDS.get(text.strip().rstrip("。.!！~～ "), text)


# Hook for control payloads from the bot (handoff requests, fallbacks): (session, conversation, payload).
ControlHandler = Callable[[Session, Conversation, dict[str, Any]], list[BotReply]]


# Label values of ``bankcare_messages_total{intent=...}``: what became of a customer message.
# The recognised NLU intent lives in Rasa's tracker, and fetching it costs Rasa one more request
# per message (Rasa is the stack's bottleneck), so the gateway counts what it knows for free. A
# small fixed set, so the label can never carry customer text.
ANSWERED = "answered"  # the bot answered
FALLBACK = "fallback"  # the bot did not understand (the actions' ``{"fallback": true}`` payload)
HANDOFF = "handoff"  # the bot asked for a person (the actions' ``{"handoff": ...}`` payload)
RASA_UNAVAILABLE = "rasa_unavailable"  # Rasa down or erroring: the apology went out
RASA_SLOW = "rasa_slow"  # Rasa past the channel's deadline: told to wait, the answer follows
TO_RM = "to_rm"  # queued or with an RM: recorded for the RM, the bot stayed silent
HANDOFF_FLOW = "handoff_flow"  # a rating or a left message, answered by the handoff itself
SURVEY = "survey"  # an answer to the customer's open satisfaction survey (gateway/surveys.py)
FRAUD = "fraud"  # a scam described: the gateway warned at once, the bot never saw it
# How many latest messages are searched for an earlier 反诈 warning (then a short one is enough).
FRAUD_RECENT = 8


def message_kind(controls: list[dict[str, Any]]) -> str:
    """The label for a message the bot answered with these control payloads."""
    if any(isinstance(c.get("handoff"), dict) for c in controls):
        return HANDOFF
    if any(c.get("fallback") is True for c in controls):
        return FALLBACK
    return ANSWERED


class _TurnConversation(ConversationKey, Protocol):
    """What a turn keeps of its conversation: a ``Conversation`` or a ``ConversationRef``."""

    @property
    def sender_id(self) -> str: ...

    @property
    def consecutive_fallbacks(self) -> int: ...


@dataclass
class _Turn:
    conversation: _TurnConversation  # as read at the start of the turn
    message: InboundMessage  # as the channel's hooks left it (e.g. a numbered choice resolved)
    answered: list[BotReply] | None = None  # replies decided before (instead of) asking the bot
    kind: str = ANSWERED
    then: tuple[BotReply, ...] = ()  # said after the bot's reply (a survey question asked again)
    queued: bool = False  # waiting for an RM: the bot answers only if it is sure (else the queue does)
    notice: tuple[BotReply, ...] = ()  # said before everything else (the verification lapsed)

    @property
    def conversation_id(self) -> int:
        return self.conversation.id

    @property
    def sender_id(self) -> str:
        return self.conversation.sender_id


class ConversationService:
    """Routes customer messages to the bot or the RM who owns the conversation."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        rasa: RasaClient,
        control_handlers: list[ControlHandler] | None = None,
        silent_state_handler: Callable[[Session, Conversation], list[BotReply]] | None = None,
        notify: Callable[[int], Awaitable[None]] | None = None,
        handoff: HandoffService | None = None,
        channel_timeouts_s: dict[str, float] | None = None,
        surveys: SurveyHook | None = None,
        bank_hotline: str = "",
        verification: VerificationPolicies = DEFAULT_POLICIES,
    ) -> None:
        self.factory = session_factory
        self.verification = verification
        self.rasa = rasa
        self.control_handlers = control_handlers or []
        self.silent_state_handler = silent_state_handler
        self.notify = notify
        self.handoff = handoff
        self.surveys = surveys
        self.bank_hotline = bank_hotline
        self.channel_timeouts_s = CHANNEL_RASA_TIMEOUT_S if channel_timeouts_s is None else channel_timeouts_s
        self._late: set[asyncio.Future[None]] = set()

    async def _db(self, work: Callable[[Session], T]) -> T:
        """Run ``work`` in one transaction on a worker thread (``core.db.run_in_session``)."""
        return await run_in_session(self.factory, work)

    async def handle_message(self, message: InboundMessage, hooks: TurnHooks | None = None) -> list[BotReply]:
        """Record the message, route it (bot or RM) and return the replies.

        Two transactions: the inbound one (``hooks.begin``, the message, the RM/handoff routing)
        and, after the bot call, the outbound one (the replies, handoff triggers, ``hooks.finish``).
        When no bot call is needed the first one does it all.
        """
        started = time.perf_counter()
        try:
            return await self._handle_message(message, hooks)
        finally:
            get_metrics().gateway_latency.labels(channel=message.channel).observe(time.perf_counter() - started)

    async def _handle_message(self, message: InboundMessage, hooks: TurnHooks | None) -> list[BotReply]:
        fx = Effects()

        def record_in(session: Session) -> _Turn:
            msg = hooks.begin(session, message) if hooks is not None else message
            # 反诈 first, whatever the conversation is doing (a form, the queue, an RM serving).
            alert = None if texts.is_payload(msg.text) else detect(msg.text)
            ref = find_conversation(session, msg.channel, msg.user_id) or start_conversation(
                session, msg.channel, msg.user_id
            )
            credit_care_reply(session, ref.identity_id, msg.channel, msg.text)  # reply rate of care messages
            # The verification expiry, before the bot (and the actions it calls) sees the message.
            with_rm = ref.state in (ConversationState.QUEUED, ConversationState.AGENT)
            lapsed = self._lapsed(session, ref.identity_id, msg.channel, with_rm)
            notice = (VERIFICATION_LAPSED_REPLY,) if lapsed else ()
            survey = self.surveys.pending(session, ref) if self.surveys is not None else None
            if survey is None and alert is None and self._routine(ref, msg.text):
                # Most messages: for the bot, nothing pending. No ORM object needed.
                record_messages(session, ref, [NewMessage("in", "customer", self._shown(session, ref, msg.text))])
                self._record_replies(session, ref, list(notice))
                return _Turn(ref, msg, notice=notice)
            conv = open_conversation(session, msg.channel, msg.user_id)
            record_messages(session, conv, [NewMessage("in", "customer", self._shown(session, conv, msg.text))])
            self._record_replies(session, conv, list(notice))
            turn = _Turn(conv, msg, notice=notice)
            if alert is not None:
                # Nothing goes to Rasa: a scam story must not start a form or a "not understood" handoff.
                turn.answered, turn.kind = self._fraud(session, conv, alert, fx), FRAUD
            elif conv.state == ConversationState.AGENT or (
                conv.state == ConversationState.QUEUED and self.handoff is None
            ):
                # An RM owns the conversation: the bot stays silent.
                turn.answered, turn.kind = self._silent_state(session, conv, msg.text, fx), TO_RM
            elif conv.state == ConversationState.QUEUED and self.handoff is not None:
                # Waiting for an RM: queue commands are the handoff's, anything else goes to the bot.
                turn.answered = self.handoff.queued_intercept(session, conv, msg.text, fx)
                turn.kind, turn.queued = HANDOFF_FLOW, turn.answered is None
                if turn.answered is not None:
                    self._record_replies(session, conv, turn.answered)
            elif self.handoff is not None:
                # Rating answers and left messages are the handoff's, not the bot's.
                turn.answered, turn.kind = self.handoff.intercept(session, conv, msg.text, fx), HANDOFF_FLOW
                if turn.answered is not None:
                    self._record_replies(session, conv, turn.answered)
            if (
                survey is not None
                and self.surveys is not None
                and turn.answered is None
                and conv.state == ConversationState.BOT
            ):
                turn.answered, turn.then = self.surveys.take(session, survey, msg.text)
                if turn.answered is not None:
                    turn.kind = SURVEY
                    self._record_replies(session, conv, turn.answered)
            if turn.answered is not None and hooks is not None:
                hooks.finish(session, [*turn.notice, *turn.answered])
            return turn

        turn: _Turn = await self._db(record_in)
        message = turn.message
        if turn.answered is not None:
            self._count(message.channel, turn.kind)
            await self._apply(fx)
            return [*turn.notice, *turn.answered]

        metadata: dict[str, Any] = {"channel": message.channel, **message.metadata}
        if message.location is not None:
            metadata["location"] = {
                "latitude": message.location.latitude, "longitude": message.location.longitude,
                "label": message.location.label,
            }
        rasa_started = time.perf_counter()
        call = asyncio.ensure_future(
            self.rasa.send(turn.sender_id, as_command(message.text), metadata, limit_s=LATE_ANSWER_LIMIT_S)
        )
        try:
            raw = await asyncio.wait_for(asyncio.shield(call), self._deadline(message.channel))
        except TimeoutError:
            # Rasa has the message and will act on it: tell the customer to wait, deliver the answer later.
            get_metrics().rasa_latency.labels(outcome="late").observe(time.perf_counter() - rasa_started)
            log.warning("rasa slow for conversation %s: answer will follow", turn.conversation_id)
            kind, replies, controls = RASA_SLOW, [RASA_SLOW_REPLY], list[dict[str, Any]]()
            self._spawn(self._deliver_late(call, turn.conversation_id, message.text))
        except RasaUnavailable as exc:
            get_metrics().rasa_latency.labels(outcome="unavailable").observe(time.perf_counter() - rasa_started)
            log.warning("rasa unavailable for conversation %s: %s", turn.conversation_id, exc)
            kind, replies, controls = RASA_UNAVAILABLE, [RASA_DOWN_REPLY], list[dict[str, Any]]()
            if message.text.strip() == HUMAN_REQUEST_PAYLOAD and self.handoff is not None:
                replies, controls = [], [{"handoff": {"reason": "request_human", "priority": 0}}]
        else:
            get_metrics().rasa_latency.labels(outcome="ok").observe(time.perf_counter() - rasa_started)
            replies, controls = to_replies(raw)
            kind = message_kind(controls)

        def record_out(session: Session) -> list[BotReply]:
            nonlocal kind
            if turn.queued:
                out, kind = self._while_queued(session, turn, kind, replies, controls)
                if hooks is not None:
                    hooks.finish(session, [*turn.notice, *out])
                return out
            if not self._needs_conversation(turn, message.text, controls):
                out = (list(replies) or [NO_REPLY]) + list(turn.then)
                self._record_replies(session, turn.conversation, out)
                if hooks is not None:
                    hooks.finish(session, [*turn.notice, *out])
                return out
            conv = session.get(Conversation, turn.conversation_id)
            assert conv is not None
            out = list(replies)
            for control in controls:
                for handler in self.control_handlers:
                    out.extend(handler(session, conv, control))
            if self.handoff is not None:
                out.extend(self.handoff.after_bot(session, conv, message.text, controls, fx))
            if not out:
                out.append(NO_REPLY)
            if conv.state == ConversationState.BOT:
                out.extend(turn.then)
            self._record_replies(session, conv, out)
            if hooks is not None:
                hooks.finish(session, [*turn.notice, *out])
            return out

        result: list[BotReply] = await self._db(record_out)
        self._count(message.channel, kind)
        await self._apply(fx)
        return [*turn.notice, *result]

    def _lapsed(self, session: Session, identity_id: int, channel: str, with_rm: bool) -> bool:
        """Count the message as activity; True when the identity's verification had lapsed (idleness
        does not count while the customer waits for or talks with an RM)."""
        identity = session.get(ChannelIdentity, identity_id)
        return identity is not None and note_activity(
            session, identity, utcnow(), self.verification.of(channel), with_rm=with_rm
        )

    def _routine(self, ref: ConversationRef, text: str) -> bool:
        """A message for the bot with nothing else to do first (no RM, no reopening, no handoff step)."""
        if ref.state != ConversationState.BOT:
            return False
        return self.handoff is None or not self.handoff.may_intercept(ref, text)

    def _needs_conversation(self, turn: _Turn, text: str, controls: list[dict[str, Any]]) -> bool:
        """Whether the bot's answer may change the conversation (controls, handoff triggers)."""
        if controls:
            return True
        fallbacks = turn.conversation.consecutive_fallbacks
        return self.handoff is not None and self.handoff.may_act_after_bot(fallbacks, text, controls)

    def _deadline(self, channel: str) -> float | None:
        """How long a customer on ``channel`` waits for the bot before being told to wait."""
        limits = [t for t in (self.channel_timeouts_s.get(channel), self.rasa.timeout.total) if t is not None]
        return min(limits) if limits else None

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def drain(self, timeout_s: float = LATE_ANSWER_LIMIT_S) -> None:
        """Wait for late answers still on their way (shutdown, tests)."""
        if self._late:
            await asyncio.wait(set(self._late), timeout=timeout_s)

    async def _deliver_late(self, call: asyncio.Future[list[dict[str, Any]]], conversation_id: int, text: str) -> None:
        """Deliver Rasa's answer to a message the customer was told to wait for.

        The answer goes out as out-of-turn messages (web chat: stored and pushed; WeChat: through
        the customer-service API via the outbound sender), with the same handoff triggers as a
        timely answer. If Rasa fails after all, the apology already sent stands.
        """
        try:
            raw = await call
        except RasaUnavailable as exc:
            log.warning("late rasa answer for conversation %s failed: %s", conversation_id, exc)
            return
        replies, controls = to_replies(raw)
        fx = Effects()

        def work(session: Session) -> None:
            conv = session.get(Conversation, conversation_id)
            if conv is None:
                return
            out = list(replies)
            for control in controls:
                for handler in self.control_handlers:
                    out.extend(handler(session, conv, control))
            if self.handoff is None:
                self._record_replies(session, conv, out)
                return
            if conv.state == ConversationState.BOT:  # a customer in line is not queued twice
                out.extend(self.handoff.after_bot(session, conv, text, controls, fx))
            for reply in out:
                self.handoff.machine.notify(session, conv, reply.text, fx, author="bot", buttons=reply.buttons)

        try:
            await self._db(work)
            await self._apply(fx)
        except Exception:  # noqa: BLE001 - a background task has nobody to raise to
            log.exception("late rasa answer for conversation %s not delivered", conversation_id)

    @staticmethod
    def _count(channel: str, kind: str) -> None:
        get_metrics().messages.labels(channel=channel, intent=kind).inc()

    async def _apply(self, fx: Effects) -> None:
        if self.handoff is not None and (fx.tracker or fx.push):
            await self.handoff.apply(fx)

    @staticmethod
    def _record_replies(session: Session, conv: ConversationKey, replies: list[BotReply]) -> None:
        record_messages(session, conv, [
            NewMessage("out", r.author, r.text, [{"title": b.title, "payload": b.payload} for b in r.buttons] or None)
            for r in replies
        ])  # fmt: skip

    def _while_queued(
        self, session: Session, turn: _Turn, kind: str, replies: list[BotReply], controls: list[dict[str, Any]]
    ) -> tuple[list[BotReply], str]:
        """The bot's answer for a customer waiting for an RM: kept if it is sure, else where they stand.

        A fallback, an unsure answer (one offering 转人工) or a handoff request never starts a second
        handoff; the customer hears their place in line instead. The RM sees all of it.
        """
        conv = session.get(Conversation, turn.conversation_id)
        assert conv is not None and self.handoff is not None
        offers_human = any(b.payload == HUMAN_REQUEST_PAYLOAD for r in replies for b in r.buttons)
        sure = kind == ANSWERED and bool(replies) and not offers_human
        if conv.state != ConversationState.QUEUED:
            out = list(replies) if sure else []  # taken (or cancelled) meanwhile: no queue talk
        elif sure:
            out = list(replies) + self.handoff.queue_reminder(session, conv)
        else:
            out, kind = self.handoff.queue_status(session, conv), TO_RM
        if sure:
            for control in controls:
                for handler in self.control_handlers:
                    out.extend(handler(session, conv, control))
        self._record_replies(session, conv, out)
        return out, kind

    def _fraud(self, session: Session, conv: Conversation, alert: FraudAlert, fx: Effects) -> list[BotReply]:
        """The 反诈 warning (short if one was just given), 止付 steps if money left, then the handoff's part."""
        recent = session.scalars(
            select(Message.text)
            .where(Message.conversation_id == conv.id, Message.direction == "out")
            .order_by(Message.id.desc())
            .limit(FRAUD_RECENT)
        ).all()
        full = texts.fraud_warning(alert, self.bank_hotline)
        stop = texts.stop_payment(self.bank_hotline)
        warned = any(t.startswith(full[:8]) for t in recent)
        replies = [BotReply(texts.FRAUD_AGAIN if warned else full)]
        if alert.money_left and stop not in recent:
            replies.append(BotReply(stop))
        if self.handoff is not None:
            replies.extend(self.handoff.fraud(session, conv, alert, fx))
        self._record_replies(session, conv, replies)
        return replies

    @staticmethod
    def _shown(session: Session, conv: ConversationKey, text: str) -> str:
        """What the customer's message reads as in the transcript: a clicked button's title, not its payload."""
        if not texts.is_payload(text):
            return text
        # The latest offers first; a few back, because a web page may still show older buttons.
        rows = session.scalars(
            select(Message.buttons_json)
            .where(Message.conversation_id == conv.id, Message.direction == "out", Message.buttons_json.is_not(None))
            .order_by(Message.id.desc())
            .limit(5)
        ).all()
        buttons: list[dict[str, str]] = []
        for raw in rows:
            loaded = json.loads(raw) if raw else []
            if isinstance(loaded, list):
                buttons.extend(b for b in loaded if isinstance(b, dict))
        return texts.shown_text(text, buttons)

    def _silent_state(self, session: Session, conv: Conversation, text: str, fx: Effects) -> list[BotReply]:
        if self.handoff is not None:
            replies = self.handoff.silent(session, conv, text, fx)
        elif self.silent_state_handler is not None:
            replies = self.silent_state_handler(session, conv)
        else:
            return []
        self._record_replies(session, conv, replies)
        return replies

    async def on_subscribe(self, channel: str, user_id: str, scene: str | None) -> list[BotReply]:
        def work(session: Session) -> list[BotReply]:
            identity = get_or_create_identity(session, channel, user_id)
            identity.subscribed = True
            if scene:
                identity.referral_code = scene[:32]
            conv = open_conversation(session, channel, user_id)
            reply = BotReply(text=WELCOME, buttons=(Button("绑定账户", "/bind_account"),))
            record_message(session, conv, "out", "bot", reply.text)
            session.add(AuditEvent(actor="wechat", action="subscribed", detail={"identity_id": identity.id,
                                                                                 "scene": (scene or "")[:32]}))
            return [reply]

        result: list[BotReply] = await self._db(work)
        return result

    async def on_unsubscribe(self, channel: str, user_id: str) -> None:
        def work(session: Session) -> None:
            identity = get_or_create_identity(session, channel, user_id)
            if identity.customer_id is not None:
                refuse_channel(session, identity.customer_id, channel, source="取消关注")
            unbind(session, identity, reason="unsubscribed")
            identity.subscribed = False
            # WeChat forbids keeping the openid linked after unfollow: keep an anonymous key only.
            identity.external_id = f"anon:{identity.id}:{hashlib.sha256(user_id.encode()).hexdigest()[:32]}"
            identity.referral_code = None
            identity.display_label = None

        await self._db(work)
