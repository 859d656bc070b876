"""Satisfaction surveys in the RM console (#24).

- ``/console/surveys`` (supervisors): every survey; one survey's NPS / CSAT with 95 % intervals,
  response rates, comment topics and 回访 numbers, grouped by branch, RM, segment, channel or
  month, with a bar chart (matplotlib PNG from :mod:`care.survey_report`, the same code as
  ``bankcare surveys report``).
- ``/console/callbacks`` and ``/console/api/callbacks`` (every RM): the 回访 tasks of the
  logged-in RM (a supervisor: also their branch's), and ``POST /console/api/callbacks/{id}`` to
  record a call's outcome. The work queue page can show the same list.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from care import survey_report
from care.compliance import TZ
from crm.access.survey_callbacks import CLOSING_OUTCOMES, NotYours, close_task, list_tasks
from crm.errors import NotFound
from crm.models.base import utcnow
from gateway.console.auth import ConsoleUser, current_user, json_error, state_changing_user
from gateway.db import run_db
from gateway.validation import is_clean_text, json_object, path_id

STATIC_PAGE = Path(__file__).parent / "static" / "surveys.html"
CALLBACKS_PAGE = Path(__file__).parent / "static" / "callbacks.html"
CODE = re.compile(r"^[a-z0-9_]{1,48}$")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'"
)
MAX_NOTE = 1000


async def _supervisor(request: web.Request) -> ConsoleUser:
    user = await current_user(request)
    if user.role != "supervisor":
        raise json_error(403, "forbidden", "只有主管可以查看满意度调查报表。")
    return user


def _code_and_by(request: web.Request) -> tuple[str, str | None]:
    code = request.match_info["code"]
    if not CODE.match(code):
        raise json_error(404, "not_found", "没有这个调查。")
    by = request.query.get("by") or None
    if by is not None and by not in survey_report.GROUPINGS:
        raise json_error(400, "bad_request", "分组方式只能是 branch、rm、segment、channel 或 period。")
    return code, by


async def page(_request: web.Request) -> web.FileResponse:
    resp = web.FileResponse(STATIC_PAGE)
    resp.headers["Content-Security-Policy"] = CSP
    return resp


async def callbacks_page(_request: web.Request) -> web.FileResponse:
    """The RM's 回访 list (its script asks the API, which checks the session)."""
    resp = web.FileResponse(CALLBACKS_PAGE)
    resp.headers["Content-Security-Policy"] = CSP
    return resp


async def survey_list(request: web.Request) -> web.Response:
    await _supervisor(request)
    return web.json_response({"surveys": await run_db(request, survey_report.list_surveys)})


async def _report(request: web.Request) -> survey_report.SurveyReport:
    await _supervisor(request)
    code, by = _code_and_by(request)

    def work(session: Session) -> survey_report.SurveyReport | None:
        try:
            return survey_report.build(session, code, by)
        except survey_report.UnknownSurvey:
            return None

    found = await run_db(request, work)
    if found is None:
        raise json_error(404, "not_found", "没有这个调查。")
    return found


async def survey_detail(request: web.Request) -> web.Response:
    return web.json_response((await _report(request)).as_dict())


async def survey_chart(request: web.Request) -> web.Response:
    found = await _report(request)
    png = survey_report.chart_png(found)
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})


async def callbacks(request: web.Request) -> web.Response:
    user = await current_user(request)
    include_closed = request.query.get("all") == "1"

    def work(session: Session) -> list[dict[str, Any]]:
        today = utcnow().astimezone(TZ).date()
        return list_tasks(session, user.rm_id, user.role, user.branch_id, include_closed=include_closed, today=today)

    return web.json_response({"callbacks": await run_db(request, work)})


async def close_callback(request: web.Request) -> web.Response:
    user = await state_changing_user(request)
    task_id = path_id(request, "task_id")
    if task_id is None:
        raise json_error(404, "not_found", "没有这条回访任务。")
    body = await json_object(request)
    outcome = body.get("outcome")
    note = body.get("note", "")
    if outcome not in CLOSING_OUTCOMES:
        raise json_error(400, "bad_request", "请选择回访结果：已回访（done）或未联系上（unreachable）。")
    if not isinstance(note, str) or not is_clean_text(note) or len(note) > MAX_NOTE:
        raise json_error(400, "bad_request", f"回访记录需是不超过 {MAX_NOTE} 字的文字。")

    def work(session: Session) -> dict[str, Any]:
        return close_task(session, task_id, user.rm_id, user.role, user.branch_id, outcome, note, utcnow())

    try:
        result = await run_db(request, work)
    except NotFound:
        raise json_error(404, "not_found", "没有这条回访任务。") from None
    except NotYours:
        raise json_error(403, "forbidden", "这条回访任务属于其他客户经理。") from None
    return web.json_response(result)


def setup_surveys(app: web.Application) -> None:
    """Add the survey report page, its JSON/PNG API and the 回访 task API (after the console)."""
    app.router.add_get("/console/surveys", page)
    app.router.add_get("/console/surveys/{code}", page)
    app.router.add_get("/console/api/surveys", survey_list)
    app.router.add_get("/console/api/surveys/{code}", survey_detail)
    app.router.add_get("/console/api/surveys/{code}/chart.png", survey_chart)
    app.router.add_get("/console/callbacks", callbacks_page)
    app.router.add_get("/console/api/callbacks", callbacks)
    app.router.add_post("/console/api/callbacks/{task_id}", close_callback)
