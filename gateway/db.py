"""Database work for a request handler: the app's session factory with ``core.db.run_in_session``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from aiohttp import web
from sqlalchemy.orm import Session

from core.db import run_in_session
from gateway.keys import SESSION_FACTORY

T = TypeVar("T")


async def run_db(request: web.Request, work: Callable[[Session], T]) -> T:
    """Run blocking ``work`` in one transaction on a worker thread (commit on success)."""
    return await run_in_session(request.app[SESSION_FACTORY], work)
