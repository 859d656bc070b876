"""Console login: argon2 passwords, throttled guesses, a TOTP second factor, DB-backed sessions, CSRF tokens.

The cookie holds a random token; only its SHA-256 is stored, so a database leak yields no sessions.
The cookie is HttpOnly and SameSite=Strict; every state-changing request must also carry the
session's CSRF token in ``X-CSRF-Token`` (double protection: old browsers ignore SameSite).

Wrong guesses slow the guesser down (``crm.access.login_throttle``: backoff per login and address)
instead of locking the account, and unknown logins get exactly the answers real ones get.
A session has a stage: "code" (password right, TOTP code pending), "enrol" (a supervisor without
a second factor, who may only set one up) or "full"; only "full" opens the console.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from core.metrics import get_metrics
from crm.access import console as accounts
from crm.access import login_throttle as throttle
from crm.access.presence import go_offline, touch_presence
from crm.models import AuditEvent, utcnow
from gateway.client_address import client_address
from gateway.db import run_db
from gateway.keys import SETTINGS
from gateway.validation import ascii_token, json_error, parse_json

log = logging.getLogger(__name__)
COOKIE = "bc_console"
CSRF_HEADER = "X-CSRF-Token"
_HASHER = PasswordHasher()
_DUMMY_HASH = _HASHER.hash("not-a-real-password-used-for-timing-only")
NEXT_STEP = {"full": "done", "code": "totp", "enrol": "enrol"}  # what the page shows after the answer


@dataclass(frozen=True)
class ConsoleUser:
    rm_id: int
    code: str
    name: str
    role: str
    branch_id: int
    csrf: str
    token_hash: str
    stage: str = "full"
    login: str = ""


def _verify(stored: str | None, password: str) -> bool:
    try:
        # An account without a password ("") must not open with the dummy hash's password.
        return _HASHER.verify(stored or _DUMMY_HASH, password) and bool(stored)
    except (VerificationError, InvalidHashError):
        return False


def _hash_token(token: str) -> str:
    # A forged cookie may carry any bytes (surrogate-escaped by aiohttp): hash them, never fail.
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def too_many_attempts(wait_s: int) -> web.HTTPException:
    """429 with Retry-After: the same for every login, existing or not."""
    error = json_error(429, "throttled", f"尝试次数过多，请 {wait_s} 秒后再试。")
    error.headers["Retry-After"] = str(wait_s)
    return error


async def read_json(request: web.Request) -> dict[str, Any]:
    """The JSON object body (JSON only: a cross-site form cannot send it without CORS), or 400."""
    if request.content_type != "application/json":
        raise json_error(400, "bad_request", "请求格式不正确")
    try:  # not request.json(): an unknown charset, NaN or "[[[[..." deep nesting would be a 500
        body = parse_json(await request.read(), clean_text=False)
    except ValueError as exc:
        raise json_error(400, "bad_request", "请求格式不正确") from exc
    if not isinstance(body, dict):
        raise json_error(400, "bad_request", "请求格式不正确")
    return body


def _text_field(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        return ""
    # A lone surrogate or a control character (NUL) cannot be stored or compared: it becomes "?",
    # which no real login or password check will match.
    text = value[:limit].encode("utf-8", "replace").decode("utf-8")
    return "".join(ch if ch.isprintable() else "?" for ch in text)


async def reserve_attempt(request: web.Request, login: str, address: str) -> None:
    """Count this attempt against the backoff before any secret is checked; 429 when it must wait."""
    for _ in range(50):  # a reservation loses a race only to another one that made progress
        wait = await run_db(request, lambda s: throttle.try_reserve(s, login, address, utcnow()))
        if wait == 0:
            return
        if wait > 0:
            log.info("console login throttled (%s s) for login %r", wait, login)
            get_metrics().console_logins.labels(step="any", outcome="throttled").inc()
            raise too_many_attempts(wait)
    raise too_many_attempts(1)


def audit_failure(session: Session, login: str, address: str, step: str) -> None:
    """A failed login for the audit trail: the login as typed and the address, never the secret."""
    detail = {"login": login, "address": address, "step": step}
    session.add(AuditEvent(actor="console", action="console_login_failed", detail=detail))


async def start_session(
    request: web.Request, user: ConsoleUser, stage: str, replaces: str | None = None
) -> web.Response:
    """A new session token of ``stage`` for ``user`` (the previous one of ``replaces`` is closed)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = utcnow()

    def work(session: Session) -> None:
        if replaces is not None:
            accounts.close_console_session(session, replaces)
        accounts.open_console_session(session, user.rm_id, _hash_token(token), csrf, now, stage)
        if stage == "full":
            touch_presence(session, user.rm_id, now)

    await run_db(request, work)
    return session_response(request, token, csrf, stage, {"name": user.name, "role": user.role})


def session_response(
    request: web.Request, token: str, csrf: str, stage: str, user: dict[str, str]
) -> web.Response:
    resp = web.json_response({"ok": True, "next": NEXT_STEP[stage], "csrf": csrf, "user": user})
    resp.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        path="/console",
        max_age=int(accounts.STAGE_TTL[stage].total_seconds()),
        secure=request.app[SETTINGS].public_url.startswith("https://"),
    )
    return resp


async def login(request: web.Request) -> web.Response:
    """POST {"login", "password"}: 200 with ``next`` (done | totp | enrol), 401 wrong, 429 wait."""
    body = await read_json(request)
    login_name = _text_field(body, "login", 32).strip()
    password = _text_field(body, "password", 128)
    address = client_address(request)
    await reserve_attempt(request, login_name, address)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = utcnow()

    def work(session: Session) -> tuple[str, dict[str, str]] | None:
        rm = accounts.check_password(session, login_name, password, _verify)
        if rm is None:
            audit_failure(session, login_name, address, "password")
            return None
        stage = accounts.next_stage(rm)
        accounts.open_console_session(session, rm.id, _hash_token(token), csrf, now, stage)
        if stage != "code":  # the password was the whole proof asked for
            throttle.forgive(session, login_name, address, attempts=1)
        if stage == "full":
            touch_presence(session, rm.id, now)
        action = {"full": "console_login", "code": "console_login_password_ok", "enrol": "console_login_enrol"}
        session.add(AuditEvent(actor=f"rm:{rm.code}", action=action[stage], detail={"address": address}))
        return stage, {"name": rm.name, "role": rm.role}

    outcome = await run_db(request, work)
    get_metrics().console_logins.labels(step="password", outcome="wrong" if outcome is None else "ok").inc()
    if outcome is None:
        raise json_error(401, "bad_credentials", "用户名或密码不正确。")
    stage, user = outcome
    return session_response(request, token, csrf, stage, user)


def _stage_error(stage: str) -> web.HTTPException:
    if stage == "code":
        return json_error(401, "totp_required", "请输入手机验证器上的 6 位动态验证码。")
    return json_error(403, "totp_enrolment_required", "主管账号需要先设置两步验证，完成后才能使用工作台。")


async def session_user(
    request: web.Request, stages: tuple[str, ...] = ("full",), csrf: bool = False
) -> ConsoleUser:
    """The user of this request's session if its stage is one of ``stages`` (401/403 otherwise)."""
    token = ascii_token(request.cookies.get(COOKIE))  # raw bytes in a cookie are no session, not a 500
    if not token:
        raise json_error(401, "login_required", "请先登录。")
    token_hash = _hash_token(token)

    def work(session: Session) -> ConsoleUser | None:
        found = accounts.console_session(session, token_hash, utcnow())
        if found is None:
            return None
        rm, row = found
        return ConsoleUser(
            rm.id, rm.code, rm.name, rm.role, rm.branch_id, row.csrf_token, token_hash, row.stage, rm.login
        )

    user: ConsoleUser | None = await run_db(request, work)
    if user is None:
        raise json_error(401, "login_required", "登录已过期，请重新登录。")
    if csrf:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent.encode("utf-8", "replace"), user.csrf.encode()):
            raise json_error(403, "csrf", "安全校验失败，请刷新页面后重试。")
    if user.stage not in stages:
        raise _stage_error(user.stage)
    return user


async def current_user(request: web.Request) -> ConsoleUser:
    """The fully logged-in console user, or 401/403."""
    return await session_user(request)


async def state_changing_user(request: web.Request) -> ConsoleUser:
    """``current_user`` plus the CSRF check every POST must pass."""
    return await session_user(request, csrf=True)


async def logout(request: web.Request) -> web.Response:
    user = await session_user(request, tuple(NEXT_STEP), csrf=True)

    def work(session: Session) -> None:
        accounts.close_console_session(session, user.token_hash)
        go_offline(session, user.rm_id)

    await run_db(request, work)
    resp = web.json_response({"ok": True})
    resp.del_cookie(COOKIE, path="/console")
    return resp
