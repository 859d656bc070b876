"""The conversation core's shortcut for routine messages must never skip real work.

Most customer messages go to the bot of a conversation with nothing pending; the core then
records them from plain values (``find_conversation``) without loading the conversation, and
skips ``intercept`` / ``after_bot``. That is only right while ``may_intercept`` and
``may_act_after_bot`` stay in step with what those two do: these tests try every pending
handoff step against texts that do and do not concern it.
"""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from crm.access.conversations import find_conversation, open_conversation, start_conversation
from crm.models import ChannelIdentity, Conversation, ConversationTransition, Message, Ticket
from crm.models.conversations import ConversationState
from crm.models.handoff import HandoffState, ServiceRating
from gateway.handoff.machine import Effects, HandoffMachine
from tests.gateway.console.support import db_url, factory, handoff_settings, template_db  # noqa: F401 - fixtures

# What a handoff row can be waiting for when the customer's next message arrives (None: no row).
PENDING: dict[str, dict[str, Any] | None] = {
    "no handoff row": None,
    "row, nothing pending": {},
    "left message awaited": {"awaiting_message": True},
    "rating score awaited": {"rating_step": "score"},
    "rating reason awaited": {"rating_step": "reason", "with_rating": True},
}
WAITING = {"left message awaited", "rating score awaited", "rating reason awaited"}
TEXTS = ["你好", "查余额", "留言", "/leave_message", "5", "跳过", "服务很好"]


def make_conversation(factory: sessionmaker[Session], external_id: str, pending: dict[str, Any] | None) -> int:
    with factory() as s, s.begin():
        conv_id = start_conversation(s, "web", external_id).id
        if pending is not None:
            hs = HandoffState(conversation_id=conv_id, awaiting_message=pending.get("awaiting_message", False),
                              rating_step=pending.get("rating_step"))  # fmt: skip
            if pending.get("with_rating"):
                rating = ServiceRating(conversation_id=conv_id, score=5)
                s.add(rating)
                s.flush()
                hs.rating_id = rating.id
            s.add(hs)
    return conv_id


def snapshot(session: Session, conv_id: int) -> tuple[Any, ...]:
    """The conversation's rows as the database sees them (pending ORM changes are flushed first)."""
    session.flush()
    conv = session.execute(select(Conversation.__table__).where(Conversation.id == conv_id)).one()
    hs = session.execute(select(HandoffState.__table__).where(HandoffState.conversation_id == conv_id)).first()
    counts = [
        session.scalar(select(func.count()).select_from(model).where(model.conversation_id == conv_id))
        for model in (Message, ConversationTransition, ServiceRating)
    ]
    tickets = session.scalar(select(func.count()).select_from(Ticket))
    return (tuple(conv), tuple(hs) if hs else None, *counts, tickets)


@pytest.mark.parametrize("pending", list(PENDING))
def test_may_intercept_false_means_intercept_does_nothing(factory: sessionmaker[Session], pending: str) -> None:
    machine = HandoffMachine(handoff_settings())
    shortcuts = 0
    for i, text in enumerate(TEXTS):
        external_id = f"fast-{pending}-{i}"
        make_conversation(factory, external_id, PENDING[pending])
        with factory() as s:
            ref = find_conversation(s, "web", external_id)
            assert ref is not None
            if machine.may_intercept(ref, text):
                continue
            shortcuts += 1
            conv = open_conversation(s, "web", external_id)
            before, fx = snapshot(s, conv.id), Effects()
            assert machine.intercept(s, conv, text, fx) is None, (pending, text)
            assert snapshot(s, conv.id) == before and fx == Effects(), (pending, text)
    # A waiting step sees every text; otherwise only the two leave-message commands need intercept.
    assert shortcuts == (0 if pending in WAITING else len(TEXTS) - 2)


@pytest.mark.parametrize(
    ("fallbacks", "text", "controls"),
    list(itertools.product(
        [0, 1],
        ["你好", "谢谢你", "你们就是骗子，气死我了"],
        [[], [{"fallback": True}], [{"handoff": {"reason": "request_human"}}], [{"choices": []}]],
    )),
)  # fmt: skip
def test_may_act_after_bot_false_means_after_bot_does_nothing(
    factory: sessionmaker[Session], fallbacks: int, text: str, controls: list[dict[str, Any]]
) -> None:
    machine = HandoffMachine(handoff_settings())
    external_id = f"after-{fallbacks}-{abs(hash((text, str(controls))))}"
    conv_id = make_conversation(factory, external_id, None)
    with factory() as s, s.begin():
        s.get_one(Conversation, conv_id).consecutive_fallbacks = fallbacks
    with factory() as s:
        conv = s.get_one(Conversation, conv_id)
        if machine.may_act_after_bot(conv.consecutive_fallbacks, text, controls):
            assert controls or fallbacks or "骗子" in text  # only where there is something to do
            return
        before, fx = snapshot(s, conv_id), Effects()
        assert machine.after_bot(s, conv, text, controls, fx) == []
        assert snapshot(s, conv_id) == before and fx == Effects()


def test_find_and_start_conversation(factory: sessionmaker[Session]) -> None:
    with factory() as s, s.begin():
        assert find_conversation(s, "web", "fresh-visitor") is None
        started = start_conversation(s, "web", "fresh-visitor")
        found = find_conversation(s, "web", "fresh-visitor")
        assert found == started
        assert (started.state, started.consecutive_fallbacks, started.handoff_waiting) == (ConversationState.BOT, 0, False)
        assert started.sender_id == "web:fresh-visitor"
        # A later conversation of the same identity reuses the identity and becomes the current one.
        again = start_conversation(s, "web", "fresh-visitor")
        assert again.identity_id == started.identity_id and again.id > started.id
        assert find_conversation(s, "web", "fresh-visitor") == again
        s.add(HandoffState(conversation_id=again.id, awaiting_message=True))
        s.flush()
        assert find_conversation(s, "web", "fresh-visitor") == again.__class__(
            **{**again.__dict__, "handoff_waiting": True}
        )
        identities = s.scalar(
            select(func.count()).select_from(ChannelIdentity).where(ChannelIdentity.external_id == "fresh-visitor")
        )
        assert identities == 1
        # The ORM path sees the same conversation.
        assert open_conversation(s, "web", "fresh-visitor").id == again.id
        assert s.scalar(select(func.count()).select_from(Message).where(Message.conversation_id == again.id)) == 0
