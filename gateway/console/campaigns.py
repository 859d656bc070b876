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

from care import report
from gateway.console.auth import ConsoleUser, current_user, json_error
from gateway.db import run_db

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


def setup_campaigns(app: web.Application) -> None:
    """Add the campaign report pages and their JSON API to the gateway (after the console)."""
    app.router.add_get("/console/campaigns", page)
    app.router.add_get("/console/campaigns/{code}", page)
    app.router.add_get("/console/api/campaigns", campaign_list)
    app.router.add_get("/console/api/campaigns/{code}", campaign_detail)
