"""Console login: argon2 passwords, DB-backed sessions, CSRF tokens, lockout after repeated failures.

The cookie holds a random token; only its SHA-256 is stored, so a database leak yields no sessions.
The cookie is HttpOnly and SameSite=Strict; every state-changing request must also carry the
session's CSRF token in ``X-CSRF-Token`` (double protection: old browsers ignore SameSite).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from core.db import run_in_session
from crm.access import console as accounts
from crm.access import handoff as access
from crm.models import AuditEvent, utcnow
from gateway.keys import SESSION_FACTORY, SETTINGS

log = logging.getLogger(__name__)
T = TypeVar("T")
COOKIE = "bc_console"
CSRF_HEADER = "X-CSRF-Token"
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not-a-real-password-used-for-timing-only")


@dataclass(frozen=True)
class ConsoleUser:
    rm_id: int
    code: str
    name: str
    role: str
    branch_id: int
    csrf: str
    token_hash: str


def _verify(stored: str | None, password: str) -> bool:
    try:
        return _HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def _db(request: web.Request, work: Callable[[Session], T]) -> T:
    return await run_in_session(request.app[SESSION_FACTORY], work)


class _HTTPLocked(web.HTTPClientError):
    status_code = 423  # aiohttp has no class for 423 Locked


def json_error(status: int, code: str, message: str) -> web.HTTPException:
    """An HTTP error with a JSON body ``{"error": code, "message": 中文说明}``."""
    cls = {
        400: web.HTTPBadRequest,
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
        423: _HTTPLocked,
    }[status]
    return cls(
        text=json.dumps({"error": code, "message": message}, ensure_ascii=False),
        content_type="application/json",
    )


async def login(request: web.Request) -> web.Response:
    """POST {"login", "password"} (JSON only: a cross-site form cannot send it without CORS)."""
    if request.content_type != "application/json":
        raise json_error(400, "bad_request", "请求格式不正确")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise json_error(400, "bad_request", "请求格式不正确") from exc
    login_name = str(body.get("login") or "")[:32] if isinstance(body, dict) else ""
    password = str(body.get("password") or "")[:128] if isinstance(body, dict) else ""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = utcnow()

    def work(session: Session) -> tuple[str, object]:
        try:
            rm = accounts.check_login(session, login_name, password, _verify, now)
        except accounts.LoginLocked as exc:
            return "locked", exc.until
        if rm is None:
            return "bad", None
        accounts.open_console_session(session, rm.id, _hash_token(token), csrf, now)
        access.touch_presence(session, rm.id, now)
        session.add(AuditEvent(actor=f"rm:{rm.code}", action="console_login", detail={}))
        return "ok", {"name": rm.name, "role": rm.role}

    outcome, data = await _db(request, work)
    if outcome == "locked":
        assert isinstance(data, dt.datetime)
        local = data.astimezone(ZoneInfo(request.app[SETTINGS].timezone))
        raise json_error(423, "locked", f"密码错误次数过多，账号已锁定，请在 {local:%H:%M} 之后再试。")
    if outcome == "bad":
        raise json_error(401, "bad_credentials", "用户名或密码不正确。")
    resp = web.json_response({"ok": True, "csrf": csrf, "user": data})
    resp.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        path="/console",
        max_age=int(accounts.SESSION_TTL.total_seconds()),
        secure=request.app[SETTINGS].public_url.startswith("https://"),
    )
    return resp


async def current_user(request: web.Request) -> ConsoleUser:
    """The logged-in console user, or 401."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise json_error(401, "login_required", "请先登录。")
    token_hash = _hash_token(token)

    def work(session: Session) -> ConsoleUser | None:
        found = accounts.console_session(session, token_hash, utcnow())
        if found is None:
            return None
        rm, csrf = found
        return ConsoleUser(rm.id, rm.code, rm.name, rm.role, rm.branch_id, csrf, token_hash)

    user: ConsoleUser | None = await _db(request, work)
    if user is None:
        raise json_error(401, "login_required", "登录已过期，请重新登录。")
    return user


async def state_changing_user(request: web.Request) -> ConsoleUser:
    """``current_user`` plus the CSRF check every POST must pass."""
    user = await current_user(request)
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent, user.csrf):
        raise json_error(403, "csrf", "安全校验失败，请刷新页面后重试。")
    return user


async def logout(request: web.Request) -> web.Response:
    user = await state_changing_user(request)

    def work(session: Session) -> None:
        accounts.close_console_session(session, user.token_hash)
        access.go_offline(session, user.rm_id)

    await _db(request, work)
    resp = web.json_response({"ok": True})
    resp.del_cookie(COOKIE, path="/console")
    return resp
