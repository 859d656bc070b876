"""Periodic handoff duties: presence, unanswered customers, routing escalation, queue updates,
and messages a stopped gateway stored but never sent.

Safe with several gateway processes sweeping at once: every change is a conditional UPDATE
(``crm.access.transitions.move`` / ``presence.go_offline``), so a conversation is re-queued or an RM marked
offline by exactly one of them; only the winner tells the customer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.access.handoff_queue import position_in_queue, queued
from crm.access.presence import go_offline, is_online, online_rms
from crm.access.send_keys import never_tried
from crm.access.transitions import move
from crm.models import Conversation, RelationshipManager
from crm.models.conversations import ConversationState
from crm.models.handoff import HandoffState
from gateway.handoff import texts
from gateway.handoff.hours import is_working_time
from gateway.handoff.machine import Effects, HandoffMachine

UNSENT_GRACE_S = 30.0  # the request that stored a message normally sends it within a second


@dataclass
class SweepReport:
    offline: int = 0
    requeued: int = 0
    escalated: int = 0
    offered: int = 0
    updated: int = 0
    resent: int = 0


def sweep(machine: HandoffMachine, session: Session, now: dt.datetime, fx: Effects) -> SweepReport:
    """One pass over presence and the queue (call every few seconds)."""
    s = machine.settings
    report = SweepReport()
    stale = now - dt.timedelta(seconds=s.presence_timeout_s)
    for rm in session.scalars(
        select(RelationshipManager).where(
            RelationshipManager.online.is_(True), RelationshipManager.last_seen_at < stale
        )
    ).all():
        if go_offline(session, rm.id, stale_before=stale):
            report.offline += 1
    # Conversations owned by an offline RM (whoever noticed it) go back to the queue.
    owned = session.execute(
        select(Conversation, HandoffState, RelationshipManager)
        .join(HandoffState, HandoffState.conversation_id == Conversation.id)
        .join(RelationshipManager, RelationshipManager.id == Conversation.rm_id)
        .where(Conversation.state == ConversationState.AGENT)
    ).all()
    reply_deadline = now - dt.timedelta(seconds=s.rm_reply_timeout_s)
    for conv, hs, rm in owned:
        if not rm.online:
            reason, text = "rm_offline", texts.REQUEUED_OFFLINE
        elif hs.awaiting_since is not None and hs.awaiting_since <= reply_deadline:
            reason, text = "rm_no_answer", texts.REQUEUED_NO_ANSWER
        else:
            continue
        if move(
            session,
            conv,
            ConversationState.AGENT,
            ConversationState.QUEUED,
            "system",
            reason,
            rm_id=None,
            require_rm=rm.id,
        ):
            report.requeued += 1
            # The RM who failed them is no longer "their" RM for this episode: widen the routing.
            if hs.preferred_rm_id == rm.id:
                hs.preferred_rm_id = None
            hs.route_scope = (
                "branch"
                if hs.branch_id and online_rms(session, now, s.presence_timeout_s, hs.branch_id)
                else "any"
            )
            hs.scope_since, hs.assigned_at, hs.awaiting_since, hs.last_position_told = now, None, None, None
            machine.notify(session, conv, text.format(rm=f"客户经理{texts.rm_title(rm.name)}"), fx)
            fx.resume(conv)  # back in line: the bot answers again while the customer waits

    for conv, hs in queued(session):
        report.escalated += _escalate(machine, session, hs, now)
        waited = now - (conv.queued_at or now)
        if hs.message_offered_at is None and (
            waited >= dt.timedelta(seconds=s.leave_message_after_s) or not is_working_time(now, s)
        ):
            hs.message_offered_at = now
            report.offered += 1
            machine.notify(
                session,
                conv,
                texts.OFFER_AFTER_WAIT,
                fx,
                buttons=(texts.LEAVE_MESSAGE_BUTTON, texts.CANCEL_BUTTON),
            )
    working = is_working_time(now, s)
    for conv, hs in queued(session):
        position = position_in_queue(session, conv, hs)
        # Positions only move forward: someone served first (a VIP, a fraud victim) is not news.
        if hs.last_position_told is not None and position < hs.last_position_told and working:
            online = machine._online_for(session, hs, now)  # noqa: SLF001 - same package
            machine.notify(session, conv, texts.position_update(position, online, s.seconds_per_position), fx)
            report.updated += 1
        if hs.last_position_told is None or position < hs.last_position_told:
            hs.last_position_told = position
    # Messages stored but never sent (the gateway stopped between the commit and the send): the
    # outbound key makes a second attempt safe, and only untried keys are picked up.
    unsent = never_tried(session, now - dt.timedelta(seconds=UNSENT_GRACE_S))
    fx.push.extend(unsent)
    report.resent = len(unsent)
    return report


def _escalate(machine: HandoffMachine, session: Session, hs: HandoffState, now: dt.datetime) -> int:
    """Widen who may take a waiting conversation: own RM → branch → anyone online."""
    s = machine.settings
    since = hs.scope_since or now
    if hs.route_scope == "rm":
        rm = session.get(RelationshipManager, hs.preferred_rm_id) if hs.preferred_rm_id else None
        gone = rm is None or not is_online(rm, now, s.presence_timeout_s)
        if gone or now - since >= dt.timedelta(seconds=s.preferred_rm_wait_s):
            hs.route_scope, hs.scope_since = "branch", now
            return 1
    elif hs.route_scope == "branch":
        nobody = hs.branch_id is None or not online_rms(
            session, now, s.presence_timeout_s, hs.branch_id
        )
        if nobody or now - since >= dt.timedelta(seconds=s.branch_wait_s):
            hs.route_scope, hs.scope_since = "any", now
            return 1
    return 0
