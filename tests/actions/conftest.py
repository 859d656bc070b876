"""Action tests go through the action server's real HTTP webhook on a seeded SQLite demo bank."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import rasa_sdk
import yaml
from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import actions.context

with warnings.catch_warnings():
    # sanic-testing (the ASGI client rasa-sdk's own tests use) imports websockets.legacy; that
    # deprecation is theirs, not ours, so it is silenced for this one import only.
    warnings.simplefilter("ignore", DeprecationWarning)
    import sanic_testing  # noqa: F401
from core.settings import PROJECT_ROOT
from crm.timeparse import today_in_shanghai
from tests.actions.demo_bank import build_template, copy_bank, engine_for, session_for
from tests.actions.responses import rendered

_ids = itertools.count()
# Rasa 3.6 talks to rasa-sdk 3.21 on purpose (see docs/ARCHITECTURE.md); the SDK warns on every call whose
# version differs in major.minor, and warnings are errors here, so the tests announce the SDK's.
SDK_VERSION = rasa_sdk.__version__


@pytest.fixture(scope="session")
def bank_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Seeded "today" so persona deposits/loans fall due where the persona notes say.
    import tests.actions.demo_bank as demo

    demo.AS_OF = today_in_shanghai()
    return build_template(tmp_path_factory.mktemp("bank"))


@pytest.fixture
def bank_url(bank_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = copy_bank(bank_template, tmp_path / f"bank{next(_ids)}.db")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SMS_BACKEND", "sandbox")
    actions.context._factory.cache_clear()
    actions.context._settings.cache_clear()
    yield url
    actions.context._factory().kw["bind"].dispose()
    actions.context._factory.cache_clear()
    actions.context._settings.cache_clear()


@pytest.fixture
def engine(bank_url: str) -> Iterator[Engine]:
    eng = engine_for(bank_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db(engine: Engine) -> Iterator[Session]:
    """A session for checking what the actions wrote (each use sees committed data)."""
    with session_for(engine) as session:
        yield session


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    merged: dict[str, Any] = {"forms": {}, "slots": {}, "responses": {}}
    for path in sorted((PROJECT_ROOT / "bot" / "domain").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key in merged:
            merged[key].update(data.get(key) or {})
    return merged


@pytest.fixture
async def webhook(bank_url: str, domain: dict[str, Any]) -> AsyncIterator[Any]:
    Sanic.test_mode = True
    executor = ActionExecutor()
    executor.register_package("actions")
    app = create_app(executor)

    async def call(action: str, tracker: dict[str, Any]) -> dict[str, Any]:
        payload = {
            "next_action": action,
            "sender_id": tracker["sender_id"],
            "tracker": tracker,
            "domain": domain,
            "version": SDK_VERSION,
        }
        _, resp = await app.asgi_client.post("/webhook", json=payload)
        assert resp.status == 200, resp.text
        return resp.json

    yield call


def user_event(
    text: str,
    intent: str,
    entities: list[dict[str, Any]] | None = None,
    message_id: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "event": "user",
        "timestamp": dt.datetime.now(dt.UTC).timestamp(),
        "text": text,
        "message_id": message_id or uuid.uuid4().hex,
        "metadata": metadata or {},
        "parse_data": {
            "text": text,
            "intent": {"name": intent, "confidence": 0.99},
            "entities": entities or [],
            "metadata": metadata or {},
        },
    }


def tracker(
    sender_id: str,
    text: str = "",
    intent: str = "greet",
    *,
    entities: dict[str, str] | None = None,
    slots: dict[str, Any] | None = None,
    events: list[dict[str, Any]] | None = None,
    active_loop: str | None = None,
    metadata: dict[str, Any] | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """A Rasa tracker as the action server receives it.

    ``events`` are earlier events; a user event for ``text`` is appended, then a SlotSet for every
    slot in ``slots`` (that is how Rasa hands freshly extracted slots to a validation action).
    """
    ents = [{"entity": k, "value": v, "start": 0, "end": len(str(v))} for k, v in (entities or {}).items()]
    current = user_event(text, intent, ents, message_id, metadata)
    slot_events = [
        {"event": "slot", "name": k, "value": v}
        for k, v in (slots or {}).items()
        if k != "requested_slot" and v is not None
    ]
    all_events = [*(events or []), current, *slot_events]
    return {
        "sender_id": sender_id,
        "slots": dict(slots or {}),
        "latest_message": current["parse_data"] | {"message_id": current["message_id"]},
        "events": all_events,
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action_name": "action_listen",
        "latest_event_time": current["timestamp"],
    }


def texts(result: dict[str, Any]) -> list[str]:
    """The text of every message, domain responses filled in as Rasa does (tests/actions/responses.py)."""
    return [m["text"] for m in rendered(result)]


def slot_events(result: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in result["events"] if e.get("event") == "slot"}
