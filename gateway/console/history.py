"""Past conversations in the console: search and transcripts with local dates and times (#21).

``/console/history`` searches by customer, date, keyword, RM and rating; a transcript shows every
message with its date and time in the bank's zone (``TIMEZONE``), the ratings and comments given,
and the customer's loss reports, appointments and tickets. Reading a transcript is audited.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from crm.access.history import HistoryQuery, search, transcript
from crm.access.presence import rm_by_id
from crm.errors import NotFound
from crm.models import AuditEvent, RelationshipManager
from gateway.console.auth import current_user, json_error
from gateway.db import run_db
from gateway.keys import SETTINGS
from gateway.validation import bounded_int, is_clean_text, path_id

STATIC = Path(__file__).parent / "static"
MAX_TERM = 50


def _date(value: str | None, label: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise json_error(400, "bad_date", f"{label}格式不正确，请用 2026-03-04 这样的日期。") from exc


def _term(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    if len(value) > MAX_TERM or not is_clean_text(value):
        raise json_error(400, "bad_term", "搜索内容过长或无法识别。")
    return value.strip()


def _query(request: web.Request) -> HistoryQuery:
    q = request.query
    rating = bounded_int(q.get("rating"), lo=1, hi=5) if q.get("rating") else None
    if q.get("rating") and rating is None:
        raise json_error(400, "bad_rating", "评分请选 1 到 5 分。")
    rm_id = bounded_int(q.get("rm"), lo=1) if q.get("rm") else None
    return HistoryQuery(
        customer=_term(q.get("customer")),
        date_from=_date(q.get("from"), "开始日期"),
        date_to=_date(q.get("to"), "结束日期"),
        keyword=_term(q.get("q")),
        rm_id=rm_id,
        rating=rating,
    )


async def page(_request: web.Request) -> web.FileResponse:
    resp = web.FileResponse(STATIC / "history.html")
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'"
    )
    return resp


async def history_search(request: web.Request) -> web.Response:
    user = await current_user(request)
    query = _query(request)
    tz = request.app[SETTINGS].timezone

    def work(session: Session) -> dict[str, Any]:
        rm = rm_by_id(session, user.rm_id)
        colleagues = session.query(RelationshipManager).filter(RelationshipManager.branch_id == rm.branch_id)
        return {
            "conversations": search(session, rm, query, tz),
            "rms": [{"id": r.id, "name": r.name} for r in colleagues.order_by(RelationshipManager.id)],
        }

    return web.json_response(await run_db(request, work))


async def history_transcript(request: web.Request) -> web.Response:
    user = await current_user(request)
    conv_id = path_id(request, "conv_id")
    if conv_id is None:
        raise json_error(404, "not_found", "会话不存在或您无权查看。")
    tz = request.app[SETTINGS].timezone

    def work(session: Session) -> dict[str, Any]:
        rm = rm_by_id(session, user.rm_id)
        found = transcript(session, rm, conv_id, tz)
        customer_id = found["conversation"]["customer_id"]
        detail = {"conversation_id": conv_id}
        actor = f"rm:{rm.code}"
        session.add(AuditEvent(actor=actor, action="console_view_history", customer_id=customer_id, detail=detail))
        return found

    try:
        return web.json_response(await run_db(request, work))
    except NotFound as exc:
        raise json_error(404, "not_found", "会话不存在或您无权查看。") from exc


def setup_history(app: web.Application) -> None:
    """Add ``/console/history`` and its API to the gateway."""
    app.router.add_get("/console/history", page)
    app.router.add_get("/console/api/history", history_search)
    app.router.add_get("/console/api/history/{conv_id}", history_transcript)
