"""The handoff state machine: bot → queued → agent → bot, plus closed.

All methods are synchronous and run inside one database transaction (a worker thread). What must
happen outside the transaction — Rasa tracker pause/resume/recording and pushing messages to WeChat —
is collected in ``Effects`` and carried out by ``gateway.handoff.service`` after the commit.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.metrics import get_metrics
from crm.access.conversations import ConversationRef, record_message
from crm.access.handoff_queue import position_in_queue
from crm.access.identity import customer_of
from crm.access.presence import is_online, online_rms
from crm.access.ratings import add_rating, set_rating_reason
from crm.access.send_keys import message_for_key, reserve_send
from crm.access.tiers import customer_tier
from crm.access.transitions import handoff_state, move
from crm.models import Conversation, Message, RelationshipManager, Ticket, utcnow
from crm.models.conversations import ConversationState, MessageDelivery
from crm.models.handoff import HandoffState
from crm.segments import VIP_TIERS
from gateway.antifraud import FraudAlert
from gateway.chat_types import BotReply
from gateway.handoff import texts
from gateway.handoff.hours import is_working_time, next_work_start
from gateway.handoff.settings import HandoffSettings
from gateway.texts import IN_SERVICE, is_payload

VIP_BONUS = 10
COMPLAINT_PRIORITY = 5
URGENT_REASONS = frozenset({"complaint", "negative_sentiment"})
# A customer whose money has just gone to a scammer is served before anyone, VIPs included.
FRAUD_PRIORITY = 100
FRAUD_REASON = "fraud"
# A reminder that the customer is still in line goes with a bot answer when none of this many
# latest messages was one (about every third answer).
REMINDER_WINDOW = 5
# Rasa events that end whatever form or slots a flow left open: nothing survives a handoff.
END_FLOW_EVENTS: tuple[dict[str, Any], ...] = (
    {"event": "active_loop", "name": None},
    {"event": "slot", "name": "requested_slot", "value": None},
    {"event": "reset_slots"},
)


def _channel(conv: Conversation) -> str:
    """'wechat:oAbc' → 'wechat' (metric label; never the id itself)."""
    return conv.sender_id.partition(":")[0] or "web"


def send_key_for_request(rm_id: int, request_key: str) -> str:
    """The outbound key of an RM's console request (scoped to the RM: keys come from browsers)."""
    return f"console:{rm_id}:{request_key}"


@dataclass
class Effects:
    """Side effects to run after the commit."""

    tracker: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    push: list[int] = field(default_factory=list)  # ids of out-of-turn messages for the customer

    def end_flows(self, conv: Conversation) -> None:
        self.tracker.append((conv.sender_id, [dict(e) for e in END_FLOW_EVENTS]))

    def pause(self, conv: Conversation) -> None:
        self.tracker.append((conv.sender_id, [{"event": "pause"}]))

    def resume(self, conv: Conversation, then_say: str | None = None) -> None:
        events: list[dict[str, Any]] = [{"event": "resume"}]
        if then_say:
            events.append({"event": "bot", "text": then_say, "metadata": {"handoff": "gateway"}})
        self.tracker.append((conv.sender_id, events))

    def record(self, conv: Conversation, event: str, text: str, who: str) -> None:
        self.tracker.append((conv.sender_id, [{"event": event, "text": text, "metadata": {"handoff": who}}]))


class HandoffMachine:
    """Policy for routing, queueing and timeouts; data access goes through ``crm.access`` functions."""

    def __init__(self, settings: HandoffSettings) -> None:
        self.settings = settings

    # --- customer side -----------------------------------------------------------------------

    def request(
        self,
        session: Session,
        conv: Conversation,
        reason: str,
        priority: int,
        actor: str,
        fx: Effects,
        now: dt.datetime | None = None,
    ) -> list[BotReply]:
        """bot → queued, routed by value tier and branch; returns what to tell the customer."""
        now = now or utcnow()
        hs = handoff_state(session, conv.id)
        customer = customer_of(session, conv)
        tier, branch_id, preferred = "普通", None, None
        if customer is not None:
            tier = customer_tier(session, customer.id)
            branch_id = customer.branch_id
            if tier in VIP_TIERS:
                preferred = customer.rm_id
        priority = max(priority, COMPLAINT_PRIORITY if reason in URGENT_REASONS else 0)
        if reason == FRAUD_REASON:
            priority = max(priority, FRAUD_PRIORITY)
        if tier in VIP_TIERS:
            priority += VIP_BONUS
        if not move(
            session,
            conv,
            ConversationState.BOT,
            ConversationState.QUEUED,
            actor,
            reason,
            rm_id=None,
            values={"priority": priority, "queued_at": now, "consecutive_fallbacks": 0},
        ):
            return []
        get_metrics().handoffs.labels(channel=_channel(conv), reason=reason[:32]).inc()
        hs.reason, hs.customer_id, hs.branch_id, hs.tier = (
            reason[:32],
            customer.id if customer else None,
            branch_id,
            tier,
        )
        hs.preferred_rm_id = preferred
        hs.route_scope = self._initial_scope(session, hs, now)
        hs.scope_since, hs.assigned_at, hs.awaiting_since = now, None, None
        hs.message_offered_at, hs.awaiting_message, hs.rating_step = None, False, None
        hs.updated_at = now
        # The bot keeps answering while the customer waits (the tracker is paused only when an RM
        # takes over), but whatever form brought them here is over.
        fx.end_flows(conv)
        if not is_working_time(now, self.settings):
            hs.message_offered_at = now
            return [
                BotReply(
                    texts.queue_text_out_of_hours(next_work_start(now, self.settings), reason),
                    (texts.LEAVE_MESSAGE_BUTTON, texts.CANCEL_BUTTON),
                    author="system",
                )
            ]
        position = self._told_position(session, conv, hs)
        online = self._online_for(session, hs, now)
        buttons: tuple[Any, ...] = ()
        if online <= 0:
            hs.message_offered_at = now
            buttons = (texts.LEAVE_MESSAGE_BUTTON, texts.CANCEL_BUTTON)
        text = texts.queue_text(position, online, self.settings.seconds_per_position, reason)
        return [BotReply(text, buttons, author="system")]

    @staticmethod
    def may_intercept(conv: ConversationRef, text: str) -> bool:
        """Whether ``intercept`` could act on ``text``. False means it would return None and
        change nothing, so the message path need not load the conversation (keep both in step)."""
        return conv.handoff_waiting or text.strip() in texts.LEAVE_COMMANDS

    def intercept(
        self, session: Session, conv: Conversation, text: str, fx: Effects
    ) -> list[BotReply] | None:
        """Bot-state messages the handoff answers itself (rating, leave-message); None = ask the bot."""
        hs = session.get(HandoffState, conv.id)
        stripped = text.strip()
        if stripped in texts.LEAVE_COMMANDS:
            hs = hs or handoff_state(session, conv.id)
            hs.awaiting_message = True
            return [BotReply(texts.ASK_MESSAGE, author="system")]
        if hs is None:
            return None
        if hs.awaiting_message:
            return [self._leave_message(session, conv, hs, stripped, fx)]
        if hs.rating_step == "score":
            score = texts.parse_score(stripped)
            if score is None:  # the customer moved on: do not insist
                hs.rating_step = None
                return None
            rating = add_rating(session, conv.id, hs.rating_rm_id, score)
            hs.rating_step, hs.rating_id = "reason", rating.id
            return [texts.ASK_REASON]
        if hs.rating_step == "reason" and hs.rating_id is not None:
            hs.rating_step = None
            if stripped not in texts.SKIP_REASON and not stripped.startswith("/"):
                set_rating_reason(session, hs.rating_id, stripped)
            return [BotReply(texts.THANKS_RATING)]
        return None

    @staticmethod
    def may_act_after_bot(consecutive_fallbacks: int, text: str, controls: list[dict[str, Any]]) -> bool:
        """Whether ``after_bot`` could act. False means it would return [] and change nothing
        (no control, no fallback streak to reset, a calm message); keep both in step."""
        from gateway.handoff.sentiment import is_clearly_negative

        return bool(controls) or consecutive_fallbacks != 0 or is_clearly_negative(text)

    def after_bot(
        self, session: Session, conv: Conversation, text: str, controls: list[dict[str, Any]], fx: Effects
    ) -> list[BotReply]:
        """Handoff triggers after the bot answered: explicit request, repeated fallback, anger."""
        from gateway.handoff.sentiment import is_clearly_negative

        for control in controls:
            request = control.get("handoff")
            if isinstance(request, dict):
                reason = str(request.get("reason") or "request_human")
                try:
                    priority = int(request.get("priority") or 0)
                except (TypeError, ValueError):
                    priority = 0
                return self.request(session, conv, reason, priority, "bot", fx)
        if any(c.get("fallback") is True for c in controls):
            get_metrics().fallbacks.labels(channel=_channel(conv)).inc()
            conv.consecutive_fallbacks += 1
            if conv.consecutive_fallbacks >= self.settings.fallbacks_before_handoff:
                return self.request(session, conv, "fallback", 0, "bot", fx)
        else:
            conv.consecutive_fallbacks = 0
        if is_clearly_negative(text):
            return self.request(session, conv, "negative_sentiment", COMPLAINT_PRIORITY, "system", fx)
        return []

    def silent(self, session: Session, conv: Conversation, text: str, fx: Effects) -> list[BotReply]:
        """A customer message while an RM serves: recorded for the RM, never answered by the bot.

        A button payload (a stale "不用了，继续问小农" from before the RM took over) is answered by the
        gateway and never reaches the RM as text. While queued, ``queued_intercept`` runs instead.
        """
        if conv.state == ConversationState.QUEUED:
            return self.queued_intercept(session, conv, text, fx) or self.queue_status(session, conv)
        stripped = text.strip()
        if is_payload(stripped):
            return [BotReply(IN_SERVICE, author="system")]
        hs = handoff_state(session, conv.id)
        fx.record(conv, "user", stripped, "customer")
        if hs.awaiting_since is None:
            hs.awaiting_since = utcnow()
        return []

    def queued_intercept(
        self, session: Session, conv: Conversation, text: str, fx: Effects
    ) -> list[BotReply] | None:
        """Queue commands (留言, 取消, a repeated 转人工); None = let the bot answer while waiting."""
        hs = handoff_state(session, conv.id)
        stripped = text.strip()
        if hs.awaiting_message:
            return [self._leave_message(session, conv, hs, stripped, fx)]
        if stripped in texts.LEAVE_COMMANDS:
            hs.awaiting_message = True
            return [BotReply(texts.ASK_MESSAGE, author="system")]
        if stripped in texts.CANCEL_COMMANDS:
            queued, bot = ConversationState.QUEUED, ConversationState.BOT
            if move(session, conv, queued, bot, "customer", "customer_cancelled", rm_id=None):
                fx.resume(conv)
                return [BotReply(texts.CANCELLED, author="system")]
            return []
        if stripped == "/request_human":
            return self.queue_status(session, conv)
        return None

    def queue_status(self, session: Session, conv: Conversation, now: dt.datetime | None = None) -> list[BotReply]:
        """Where a waiting customer stands (the answer when the bot has none of its own)."""
        now = now or utcnow()
        hs = handoff_state(session, conv.id)
        working = is_working_time(now, self.settings)
        position = self._told_position(session, conv, hs)
        text = texts.still_queued(position, working, next_work_start(now, self.settings))
        buttons = (texts.LEAVE_MESSAGE_BUTTON,) if hs.message_offered_at else ()
        return [BotReply(text, buttons, author="system")]

    def queue_reminder(self, session: Session, conv: Conversation, now: dt.datetime | None = None) -> list[BotReply]:
        """A short "still in line" after a bot answer while queued, not after every answer."""
        latest = session.scalars(
            select(Message.author)
            .where(Message.conversation_id == conv.id)
            .order_by(Message.id.desc())
            .limit(REMINDER_WINDOW)
        ).all()
        if "system" in latest:
            return []
        now = now or utcnow()
        hs = handoff_state(session, conv.id)
        position = self._told_position(session, conv, hs)
        return [BotReply(texts.queue_reminder(position, is_working_time(now, self.settings)), author="system")]

    def fraud(self, session: Session, conv: Conversation, alert: FraudAlert, fx: Effects) -> list[BotReply]:
        """After the 反诈 warning: flag the conversation for the RM; money gone = hand off first in line."""
        if conv.state == ConversationState.BOT:
            if alert.money_left:
                return self.request(session, conv, FRAUD_REASON, FRAUD_PRIORITY, "system", fx)
            return []
        hs = handoff_state(session, conv.id)
        hs.reason, hs.updated_at = FRAUD_REASON, utcnow()
        if conv.state == ConversationState.QUEUED:
            if conv.priority < FRAUD_PRIORITY:
                move(
                    session, conv, ConversationState.QUEUED, ConversationState.QUEUED, "system", FRAUD_REASON,
                    values={"priority": conv.priority + FRAUD_PRIORITY},
                )
            return [BotReply(texts.FRAUD_FLAGGED, author="system")]
        if conv.state == ConversationState.AGENT and hs.awaiting_since is None:
            hs.awaiting_since = utcnow()  # the RM must answer this one
        return []

    def _told_position(self, session: Session, conv: Conversation, hs: HandoffState) -> int:
        """The place to tell the customer: never further back than what they were told before."""
        position = position_in_queue(session, conv, hs)
        if hs.last_position_told is not None:
            position = min(position, hs.last_position_told)
        hs.last_position_told = position
        return position

    def _leave_message(
        self, session: Session, conv: Conversation, hs: HandoffState, text: str, fx: Effects
    ) -> BotReply:
        customer = customer_of(session, conv)
        local = utcnow().astimezone(ZoneInfo(self.settings.timezone))
        ref = f"LY{local:%Y%m%d}{secrets.token_hex(3).upper()}"
        session.add(
            Ticket(
                ref=ref,
                customer_id=customer.id if customer else None,
                identity_id=conv.identity_id,
                rm_id=hs.preferred_rm_id or (customer.rm_id if customer else None),
                kind="message",
                category=hs.reason or "留言",
                content=text[:2000],
                idempotency_key=f"handoff-message:{conv.id}:{ref}",
            )
        )
        hs.awaiting_message = False
        if conv.state == ConversationState.QUEUED and move(
            session, conv, ConversationState.QUEUED, ConversationState.BOT, "customer", "left_message", rm_id=None
        ):
            fx.resume(conv)
        return BotReply(texts.left_message(ref), author="system")

    # --- RM side -----------------------------------------------------------------------------

    def take(self, session: Session, conv: Conversation, rm: RelationshipManager, fx: Effects) -> bool:
        """queued → agent for ``rm``; False if someone else was quicker or it left the queue."""
        now = utcnow()
        queued_at = conv.queued_at
        if not move(
            session, conv, ConversationState.QUEUED, ConversationState.AGENT, f"rm:{rm.code}", "taken", rm_id=rm.id
        ):
            return False
        if queued_at is not None:
            get_metrics().queue_wait.observe(max(0.0, (now - queued_at).total_seconds()))
        hs = handoff_state(session, conv.id)
        hs.assigned_at, hs.awaiting_since, hs.updated_at = now, None, now
        # The RM answers from now on: the bot stops, and no flow it had started survives.
        fx.end_flows(conv)
        fx.pause(conv)
        self.notify(
            session,
            conv,
            texts.TAKEN.format(rm=f"客户经理{texts.rm_title(rm.name)}"),
            fx,
            author="rm",
            rm_id=rm.id,
        )
        return True

    def rm_reply(
        self,
        session: Session,
        conv: Conversation,
        rm: RelationshipManager,
        text: str,
        fx: Effects,
        request_key: str | None = None,
    ) -> Message | None:
        """Record and deliver an RM's message; None if ``rm`` does not own the conversation.

        Args:
            request_key: the console's key for this message: a double-clicked or retried request
                with the same key returns the message stored the first time and sends nothing.
        """
        key = send_key_for_request(rm.id, request_key) if request_key else None
        if key is not None:
            earlier = message_for_key(session, key)
            if earlier is not None and earlier.conversation_id == conv.id:
                return earlier
        session.refresh(conv)
        if conv.state != ConversationState.AGENT or conv.rm_id != rm.id:
            return None
        handoff_state(session, conv.id).awaiting_since = None
        return self.notify(session, conv, text, fx, author="rm", rm_id=rm.id, send_key=key)

    def transfer(
        self,
        session: Session,
        conv: Conversation,
        rm: RelationshipManager,
        target: RelationshipManager,
        fx: Effects,
    ) -> bool:
        if target.id == rm.id or not move(
            session,
            conv,
            ConversationState.AGENT,
            ConversationState.AGENT,
            f"rm:{rm.code}",
            f"transfer:{target.code}",
            rm_id=target.id,
            require_rm=rm.id,
        ):
            return False
        hs = handoff_state(session, conv.id)
        # The new owner must greet within the reply timeout, like a fresh take.
        hs.assigned_at = hs.awaiting_since = utcnow()
        self.notify(session, conv, texts.TRANSFERRED.format(rm=f"客户经理{texts.rm_title(target.name)}"), fx)
        return True

    def hand_back(self, session: Session, conv: Conversation, rm: RelationshipManager, fx: Effects) -> bool:
        """agent → bot; the bot resumes and asks for a satisfaction rating."""
        if not move(
            session,
            conv,
            ConversationState.AGENT,
            ConversationState.BOT,
            f"rm:{rm.code}",
            "hand_back",
            rm_id=None,
            require_rm=rm.id,
        ):
            return False
        self._ask_rating(session, conv, rm.id, fx)
        return True

    def close(self, session: Session, conv: Conversation, rm: RelationshipManager, fx: Effects) -> bool:
        """agent (own) or queued → closed. A handled conversation still gets the rating question."""
        actor = f"rm:{rm.code}"
        if conv.state == ConversationState.AGENT and move(
            session,
            conv,
            ConversationState.AGENT,
            ConversationState.CLOSED,
            actor,
            "closed_by_rm",
            rm_id=None,
            require_rm=rm.id,
        ):
            self.notify(session, conv, texts.CLOSED, fx)
            self._ask_rating(session, conv, rm.id, fx)
            return True
        if conv.state == ConversationState.QUEUED and move(
            session, conv, ConversationState.QUEUED, ConversationState.CLOSED, actor, "closed_by_rm"
        ):
            self.notify(session, conv, texts.CLOSED, fx)
            fx.end_flows(conv)
            fx.resume(conv)
            return True
        return False

    def _ask_rating(self, session: Session, conv: Conversation, rm_id: int, fx: Effects) -> None:
        hs = handoff_state(session, conv.id)
        hs.rating_step, hs.rating_rm_id, hs.rating_id, hs.awaiting_since = "score", rm_id, None, None
        fx.end_flows(conv)
        fx.resume(conv, then_say=texts.RATING_QUESTION.text)
        self.notify(
            session, conv, texts.RATING_QUESTION.text, fx, author="bot", buttons=texts.RATING_QUESTION.buttons
        )

    # --- shared -----------------------------------------------------------------------------

    def notify(
        self,
        session: Session,
        conv: Conversation,
        text: str,
        fx: Effects,
        *,
        author: str = "system",
        rm_id: int | None = None,
        buttons: tuple[Any, ...] = (),
        send_key: str | None = None,
    ) -> Message:
        """Record an out-of-turn message for the customer; the service sends it after the commit.

        The message and its outbound key (``send_key`` or one of its own) are stored together, so
        the outbound sender delivers it at most once however often delivery is attempted.
        """
        msg = record_message(
            session,
            conv,
            "out",
            author,
            text,
            [{"title": b.title, "payload": b.payload} for b in buttons] or None,
            rm_id=rm_id,
            delivery_status=MessageDelivery.PENDING,
        )
        reserve_send(session, msg, _channel(conv), send_key or f"handoff:{msg.id}")
        fx.push.append(msg.id)
        if author == "rm":
            fx.record(conv, "bot", text, "rm")
        return msg

    def _initial_scope(self, session: Session, hs: HandoffState, now: dt.datetime) -> str:
        presence = self.settings.presence_timeout_s
        if hs.preferred_rm_id is not None:
            rm = session.get(RelationshipManager, hs.preferred_rm_id)
            if rm is not None and is_online(rm, now, presence):
                return "rm"
        if hs.branch_id is not None and online_rms(session, now, presence, hs.branch_id):
            return "branch"
        return "any"

    def _online_for(self, session: Session, hs: HandoffState, now: dt.datetime) -> int:
        branch = hs.branch_id if hs.route_scope != "any" else None
        return len(online_rms(session, now, self.settings.presence_timeout_s, branch))
