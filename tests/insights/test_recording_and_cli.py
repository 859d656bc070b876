"""The core fallback records the message with Rasa's parse confidence (masked); the reviewed
utterances come out of ``bankcare nlu export-reviewed`` as a Rasa NLU file."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import actions.insights as action_insights
from actions.dialogue import ActionDefaultFallback
from core.db import session_scope
from crm.access import insights as store
from crm.access.conversations import open_conversation
from crm.models.insights import UnansweredQuestion


def test_fallback_joins_the_pool_with_its_confidence(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(action_insights, "session_factory", lambda: factory)
    with session_scope(factory) as session:
        sender_id = open_conversation(session, "web", "fb1").sender_id
    latest = {"text": "卡被ATM吞了 我电话13812345678", "intent": {"name": "nlu_fallback", "confidence": 0.27}}
    tracker = Tracker(sender_id, {}, latest, [], False, None, {}, "action_listen")
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionDefaultFallback().run(dispatcher, tracker, {}))
    assert {"fallback": True} in [m.get("custom") for m in dispatcher.messages]
    with session_scope(factory) as session:
        row = session.scalars(select(UnansweredQuestion)).one()
        assert (row.source, row.intent, row.confidence) == ("fallback", "nlu_fallback", 0.27)
        assert "13812345678" not in row.text and row.text.startswith("卡被ATM吞了")
        assert row.conversation_id is not None


def test_export_reviewed_from_the_cli(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with session_scope(factory) as session:
        conv = open_conversation(session, "web", "cli1")
        row = store.record_unanswered(session, "存折上的钱怎么转到卡里", "fallback", conversation_id=conv.id)
        assert row is not None
        store.review(session, row.id, "faq", "supervisor")
    from bankcare import cli_insights
    from bankcare.cli import main

    monkeypatch.setattr(cli_insights, "_factory", lambda: factory)
    assert main(["nlu", "export-reviewed", "--dir", str(tmp_path)]) == 0
    assert "1 条" in capsys.readouterr().out
    data = yaml.safe_load((tmp_path / "reviewed.yml").read_text(encoding="utf-8"))
    assert data == {"version": "3.1", "nlu": [{"intent": "faq", "examples": "- 存折上的钱怎么转到卡里\n"}]}
