"""What every action needs: the database, and who is talking (from the Rasa sender id).

The gateway is the only client of Rasa, and it sets ``sender_id`` to ``<channel>:<external id>``;
Rasa is not reachable from outside, so the sender id is trusted as the channel identity.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from collections.abc import Callable
from typing import TypeVar

from rasa_sdk import Tracker
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_engine, make_sessionmaker, run_in_session
from core.settings import Settings
from crm.access.identity import VerifiedCustomer, find_verified
from crm.timeparse import today_in_shanghai

T = TypeVar("T")


@functools.cache
def _factory() -> sessionmaker[Session]:
    # Created on first use, not at import: the action server imports every module at start-up.
    return make_sessionmaker(make_engine(_settings().database_url))


def session_factory() -> sessionmaker[Session]:
    """The action server's one database engine, for every action and the FAQ index alike."""
    return _factory()


def settings() -> Settings:
    return _settings()


@functools.cache
def _settings() -> Settings:
    return Settings.from_env()


def split_sender(sender_id: str) -> tuple[str, str]:
    """'wechat:oAbc' → ('wechat', 'oAbc'); a bare id (rasa shell, tests) counts as web chat."""
    channel, sep, external = sender_id.partition(":")
    if not sep:
        return "web", sender_id
    return channel, external


async def in_session(work: Callable[[Session], T]) -> T:
    """Run blocking database work in a worker thread, in one transaction."""
    return await run_in_session(_factory(), work)


def verified(session: Session, sender_id: str) -> VerifiedCustomer | None:
    channel, external = split_sender(sender_id)
    return find_verified(session, channel, external)


def today() -> dt.date:
    """The bank's calendar day (Asia/Shanghai)."""
    return today_in_shanghai()


def latest_message_key(tracker: Tracker) -> str:
    """A stable id of the user message being answered.

    Rasa retries an action with the same tracker, so the key is the same on a retry; a new
    message (a new request) gets a new key. Rasa sets ``message_id`` on every user event.
    """
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return str(event.get("message_id") or event.get("timestamp") or "")
    return ""


def idempotency_key(flow: str, tracker: Tracker) -> str:
    """``<flow>:<sender>:<message id>``, short enough for the 96-character key columns."""
    digest = hashlib.sha256(f"{tracker.sender_id}|{latest_message_key(tracker)}".encode()).hexdigest()
    return f"{flow}:{digest[:40]}"


def location_of(tracker: Tracker) -> tuple[float, float] | None:
    """A location the gateway attached to the latest message (WeChat location share)."""
    metadata = tracker.latest_message.get("metadata") or {}
    where = metadata.get("location") if isinstance(metadata, dict) else None
    if not isinstance(where, dict):
        return None
    try:
        return float(where["latitude"]), float(where["longitude"])
    except (KeyError, TypeError, ValueError):
        return None


def entity(tracker: Tracker, name: str) -> str | None:
    value = next(tracker.get_latest_entity_values(name), None)
    return str(value) if value is not None else None
