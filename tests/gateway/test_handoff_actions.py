"""actions/handoff.py: the handoff request payload and unprompted ratings (stored against the last RM)."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import actions.context
from actions.handoff import ActionRateService, ActionRequestHuman
from crm.access.conversations import open_conversation
from crm.access.transitions import move
from crm.models import RelationshipManager
from crm.models.conversations import ConversationState
from crm.models.handoff import ServiceRating
from tests.gateway.console.support import db_url, factory, template_db  # noqa: F401 - fixtures

SENDER = "web:demo-zhangjianhua"


@pytest.fixture
def action_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:  # noqa: F811
    monkeypatch.setenv("DATABASE_URL", db_url)
    actions.context._factory.cache_clear()
    actions.context._settings.cache_clear()
    yield
    actions.context._factory.cache_clear()
    actions.context._settings.cache_clear()


def tracker(text: str, entities: list[dict[str, Any]] | None = None) -> Tracker:
    return Tracker(
        SENDER,
        {},
        {"text": text, "intent": {"name": "rate_service"}, "entities": entities or []},
        [],
        False,
        None,
        {},
        "action_listen",
    )


async def test_request_human_emits_the_gateway_payload() -> None:
    dispatcher = CollectingDispatcher()
    await ActionRequestHuman().run(dispatcher, tracker("人工"), {})
    assert dispatcher.messages[0]["custom"] == {"handoff": {"reason": "request_human", "priority": 0}}


async def test_unprompted_rating_goes_to_the_rm_who_handled_it(
    action_db: None, factory: sessionmaker[Session]
) -> None:  # noqa: F811
    score = [{"entity": "score", "value": "4"}]
    dispatcher = CollectingDispatcher()
    await ActionRateService().run(dispatcher, tracker("给你们打4分", score), {})
    assert dispatcher.messages[0]["response"] == "utter_rating_nothing_to_rate"
    with factory.begin() as s:
        rm = s.scalar(select(RelationshipManager).where(RelationshipManager.login == "rm001"))
        assert rm is not None
        conv = open_conversation(s, "web", "demo-zhangjianhua")
        assert move(s, conv, ConversationState.BOT, ConversationState.QUEUED, "bot", "request_human")
        assert move(s, conv, ConversationState.QUEUED, ConversationState.AGENT, "rm:RM001", "taken", rm_id=rm.id)
        assert move(s, conv, ConversationState.AGENT, ConversationState.BOT, "rm:RM001", "hand_back", rm_id=None)
        rm_id = rm.id
    dispatcher = CollectingDispatcher()
    await ActionRateService().run(dispatcher, tracker("给你们打4分", score), {})
    assert dispatcher.messages[0]["response"] == "utter_thank_rating"
    with factory() as s:
        rating = s.scalar(select(ServiceRating))
        assert rating is not None and (rating.score, rating.rm_id) == (4, rm_id)
    dispatcher = CollectingDispatcher()
    await ActionRateService().run(dispatcher, tracker("再打5分", [{"entity": "score", "value": "5"}]), {})
    assert dispatcher.messages[0]["response"] == "utter_rating_nothing_to_rate"  # one rating per episode


async def test_rating_without_score_asks_for_one() -> None:
    dispatcher = CollectingDispatcher()
    await ActionRateService().run(dispatcher, tracker("我要评价", [{"entity": "score", "value": "9"}]), {})
    assert dispatcher.messages[0]["response"] == "utter_ask_rating"
