"""What every action needs: the database, and who is talking (from the Rasa sender id).

The gateway is the only client of Rasa, and it sets ``sender_id`` to ``<channel>:<external id>``;
Rasa is not reachable from outside, so the sender id is trusted as the channel identity.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bankcare.settings import Settings
from crm.access.identity import VerifiedCustomer, find_verified
from crm.db import make_engine, make_sessionmaker, session_scope

T = TypeVar("T")


@functools.cache
def _factory() -> sessionmaker[Session]:
    # Created on first use, not at import: the action server imports every module at start-up.
    return make_sessionmaker(make_engine(Settings.from_env().database_url))


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

    def run() -> T:
        with session_scope(_factory()) as session:
            return work(session)

    return await asyncio.to_thread(run)


def verified(session: Session, sender_id: str) -> VerifiedCustomer | None:
    channel, external = split_sender(sender_id)
    return find_verified(session, channel, external)
