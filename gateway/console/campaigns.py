"""Care campaign reports in the RM console, for supervisors only.

``/console/campaigns`` lists every campaign with its counts; ``/console/campaigns/{code}`` shows
one campaign's numbers and a bar chart, drawn in the browser from the JSON below (no chart
library, nothing downloaded). The numbers come from :mod:`care.report`, the same code
as ``bankcare care report``, so the page and the command cannot disagree. Only aggregates leave
the server: no customer appears on these pages.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from care import campaign_status, report
from care.conversion import conversion
from crm.models import utcnow
from gateway.console.auth import ConsoleUser, current_user, json_error, state_changing_user
from gateway.db import run_db
from gateway.keys import SETTINGS

STATIC_PAGE = Path(__file__).parent / "static" / "campaigns.html"
CODE = re.compile(r"^[a-z0-9_]{1,48}$")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'"
)


async def _supervisor(request: web.Request) -> ConsoleUser:
    """The logged-in supervisor, or 401 (not logged in) / 403 (an RM)."""
    user = await current_user(request)
    if user.role != "supervisor":
        raise json_error(403, "forbidden", "只有主管可以查看关怀活动报表。")
    return user


async def page(_request: web.Request) -> web.FileResponse:
    """The page itself (list or one campaign); its script asks the API, which checks the role."""
    resp = web.FileResponse(STATIC_PAGE)
    resp.headers["Content-Security-Policy"] = CSP
    return resp


async def campaign_list(request: web.Request) -> web.Response:
    await _supervisor(request)

    def work(session: Session) -> list[dict[str, Any]]:
        return [r.as_dict() for r in report.build_all(session)]

    return web.json_response({"campaigns": await run_db(request, work)})


async def campaign_detail(request: web.Request) -> web.Response:
    await _supervisor(request)
    code = request.match_info["code"]
    if not CODE.match(code):
        raise json_error(404, "not_found", "没有这个关怀活动。")

    def work(session: Session) -> dict[str, Any] | None:
        try:
            return report.build(session, code).as_dict()
        except report.UnknownCampaign:
            return None

    found = await run_db(request, work)
    if found is None:
        raise json_error(404, "not_found", "没有这个关怀活动。")
    return web.json_response(found)


async def campaign_outlook(request: web.Request) -> web.Response:
    """What happens next and whether it works (#21): next planning and sending, today's audience, a
    masked sample message, and for a promotion the conversion against its hold-out group."""
    await _supervisor(request)
    code = request.match_info["code"]
    if not CODE.match(code):
        raise json_error(404, "not_found", "没有这个关怀活动。")
    tz = request.app[SETTINGS].timezone

    def work(session: Session) -> dict[str, Any] | None:
        try:
            found = campaign_status.status(session, code, utcnow(), tz)
        except campaign_status.UnknownCampaign:
            return None
        measured = conversion(session, code, tz=tz)
        found["conversion"] = measured.as_dict() if measured else None
        return found

    found = await run_db(request, work)
    if found is None:
        raise json_error(404, "not_found", "没有这个关怀活动。")
    return web.json_response(found)


def _pause_or_resume(active: bool):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.Response:
        user = await state_changing_user(request)
        if user.role != "supervisor":
            raise json_error(403, "forbidden", "只有主管可以暂停或恢复关怀活动。")
        code = request.match_info["code"]
        if not CODE.match(code):
            raise json_error(404, "not_found", "没有这个关怀活动。")

        def work(session: Session) -> bool | None:
            try:
                return campaign_status.set_active(session, code, active, f"rm:{user.code}")
            except campaign_status.UnknownCampaign:
                return None

        state = await run_db(request, work)
        if state is None:
            raise json_error(404, "not_found", "没有这个关怀活动。")
        message = "活动已恢复，下次计划时会重新安排发送。" if state else "活动已暂停，暂停期间不会计划新的消息。"
        return web.json_response({"ok": True, "active": state, "message": message})

    return handler


def setup_campaigns(app: web.Application) -> None:
    """Add the campaign report pages and their JSON API to the gateway (after the console)."""
    app.router.add_get("/console/campaigns", page)
    app.router.add_get("/console/campaigns/{code}", page)
    app.router.add_get("/console/api/campaigns", campaign_list)
    app.router.add_get("/console/api/campaigns/{code}", campaign_detail)
    app.router.add_get("/console/api/campaigns/{code}/outlook", campaign_outlook)
    app.router.add_post("/console/api/campaigns/{code}/pause", _pause_or_resume(False))
    app.router.add_post("/console/api/campaigns/{code}/resume", _pause_or_resume(True))
