"""The console's TOTP second factor (RFC 6238, 6 digits, 30 s): secret sealing, code checks, enrolment.

Secrets are sealed with AES-GCM under a key derived from ``SESSION_SECRET`` and bound to the RM's
id, so a database dump alone yields no second factors; rotating ``SESSION_SECRET`` therefore means
every RM enrols again (see README). Secrets and codes are never logged.
Enrolment shows the otpauth:// URI as text and as a QR code (SVG data URI, segno) and enables the
factor only after a first code from the authenticator app checks out.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import os
import re
import unicodedata

import pyotp
import segno
from aiohttp import web
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.orm import Session

from core.metrics import get_metrics
from crm.access import console as accounts
from crm.access import login_throttle as throttle
from crm.models import AuditEvent, RelationshipManager, utcnow
from gateway.client_address import client_address
from gateway.console.auth import (
    audit_failure,
    json_error,
    read_json,
    reserve_attempt,
    session_user,
    start_session,
)
from gateway.db import run_db
from gateway.keys import SETTINGS

log = logging.getLogger(__name__)
ISSUER = "农商行客户经理工作台"
CODE = re.compile(r"[0-9]{6}")
_SEAL_PREFIX = "v1:"


def _key(session_secret: str) -> bytes:
    return hmac.new(session_secret.encode(), b"bankcare console totp seal v1", hashlib.sha256).digest()


def seal(session_secret: str, rm_id: int, secret: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(session_secret)).encrypt(nonce, secret.encode(), str(rm_id).encode())
    return _SEAL_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(session_secret: str, rm_id: int, stored: str | None) -> str | None:
    """The secret in clear, or None when absent or sealed under another key or for another RM."""
    if not stored or not stored.startswith(_SEAL_PREFIX):
        return None
    try:
        raw = base64.urlsafe_b64decode(stored[len(_SEAL_PREFIX):])
        return AESGCM(_key(session_secret)).decrypt(raw[:12], raw[12:], str(rm_id).encode()).decode()
    except (ValueError, InvalidTag):
        return None


def read_code(value: object) -> str:
    """The code as typed, full-width digits (Chinese input methods) and spaces allowed; "" if not a string."""
    if not isinstance(value, str):
        return ""
    text = unicodedata.normalize("NFKC", value.encode("utf-8", "replace").decode("utf-8"))
    return "".join(text.split())[:12]


def matching_step(secret: str, code: str, now: dt.datetime) -> int | None:
    """The 30 s step whose code ``code`` is (now, or one step either side for clock drift)."""
    if not CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def provisioning(secret: str, login: str) -> dict[str, str]:
    uri = pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name=ISSUER)
    return {"uri": uri, "secret": secret, "qr": segno.make(uri, error="m").svg_data_uri(scale=4)}


async def status(request: web.Request) -> web.Response:
    user = await session_user(request, ("full", "enrol"))

    def work(session: Session) -> dict[str, bool]:
        rm = session.get(RelationshipManager, user.rm_id)
        assert rm is not None
        return {"enabled": accounts.totp_enabled(rm), "required": accounts.totp_required(rm)}

    return web.json_response(await run_db(request, work))


async def setup(request: web.Request) -> web.Response:
    """A new secret for the logged-in RM (or the supervisor who must enrol); not in force until confirmed."""
    user = await session_user(request, ("full", "enrol"), csrf=True)
    secret = pyotp.random_base32()
    sealed = seal(request.app[SETTINGS].session_secret, user.rm_id, secret)

    def work(session: Session) -> str | None:
        try:
            accounts.start_totp_enrolment(session, user.rm_id, sealed)
        except ValueError:
            return None
        rm = session.get(RelationshipManager, user.rm_id)
        return rm.login if rm is not None else None

    login = await run_db(request, work)
    if login is None:
        raise json_error(409, "totp_enabled", "两步验证已经启用，无需重复设置。")
    return web.json_response(provisioning(secret, login))


async def confirm(request: web.Request) -> web.Response:
    """POST {"code"}: the first code from the app; enables the factor (and ends the enrolment-only session)."""
    user = await session_user(request, ("full", "enrol"), csrf=True)
    body = await read_json(request)
    code = read_code(body.get("code"))
    key = request.app[SETTINGS].session_secret
    now = utcnow()

    def work(session: Session) -> str:
        rm = session.get(RelationshipManager, user.rm_id)
        assert rm is not None
        if accounts.totp_enabled(rm):
            return "enabled"
        secret = unseal(key, rm.id, rm.totp_secret)
        if secret is None:
            return "no_setup"
        step = matching_step(secret, code, now)
        if step is None:
            return "bad_code"
        accounts.enable_totp(session, rm.id, step, now)
        session.add(AuditEvent(actor=f"rm:{rm.code}", action="console_totp_enabled", detail={}))
        return "ok"

    outcome = await run_db(request, work)
    if outcome == "enabled":
        raise json_error(409, "totp_enabled", "两步验证已经启用，无需重复设置。")
    if outcome == "no_setup":
        raise json_error(409, "totp_no_setup", "请先生成二维码，再输入验证码。")
    if outcome == "bad_code":
        raise json_error(400, "bad_code", "验证码不正确，请核对手机上的 6 位动态码后重试。")
    if user.stage == "full":
        return web.json_response({"ok": True, "csrf": user.csrf})
    return await start_session(request, user, "full", replaces=user.token_hash)


async def login_code(request: web.Request) -> web.Response:
    """POST {"code"} on a session waiting for its second factor: the full session, 401 wrong, 429 wait.

    Wrong codes count in the same backoff as wrong passwords (a stolen password must not open
    unlimited guessing), a pending session takes at most five, and a code already used is refused.
    """
    user = await session_user(request, ("code",), csrf=True)
    body = await read_json(request)
    code = read_code(body.get("code"))
    address = client_address(request)
    await reserve_attempt(request, user.login, address)
    key = request.app[SETTINGS].session_secret
    now = utcnow()

    def work(session: Session) -> str:
        rm = session.get(RelationshipManager, user.rm_id)
        assert rm is not None
        secret = unseal(key, rm.id, rm.totp_secret) if accounts.totp_enabled(rm) else None
        if secret is None:
            return "unreadable"
        step = matching_step(secret, code, now)
        if step is not None and accounts.use_totp_step(session, rm.id, step):
            throttle.forgive(session, rm.login, address, attempts=2)  # the password step and this one
            session.add(AuditEvent(actor=f"rm:{rm.code}", action="console_login", detail={"address": address}))
            return "ok"
        audit_failure(session, rm.login, address, "totp")
        if not accounts.count_code_failure(session, user.token_hash):
            return "exhausted"
        return "bad_code" if step is None else "used"

    outcome = await run_db(request, work)
    get_metrics().console_logins.labels(step="totp", outcome="ok" if outcome == "ok" else "wrong").inc()
    if outcome == "ok":
        return await start_session(request, user, "full", replaces=user.token_hash)
    if outcome == "unreadable":
        # Sealed under another SESSION_SECRET: only an administrator's reset helps (no self-service bypass).
        log.error("console TOTP secret of rm %s cannot be unsealed (SESSION_SECRET changed?)", user.code)
        raise json_error(409, "totp_unreadable", "两步验证信息无法读取，请联系系统管理员重置。")
    if outcome == "exhausted":
        raise json_error(401, "login_required", "验证码错误次数过多，请重新输入账号和密码登录。")
    if outcome == "used":
        raise json_error(401, "code_used", "这个验证码已经用过了，请等手机上出现新的验证码后再输入。")
    raise json_error(401, "bad_code", "验证码不正确，请核对手机上的 6 位动态验证码。")


async def disable(request: web.Request) -> web.Response:
    """POST {"code"}: an RM turns the optional factor off with a current code (supervisors cannot)."""
    user = await session_user(request, ("full",), csrf=True)
    if user.role == "supervisor":
        raise json_error(403, "totp_required", "主管账号必须保留两步验证。")
    code = read_code((await read_json(request)).get("code"))
    address = client_address(request)
    await reserve_attempt(request, user.login, address)  # a stolen session guesses codes slowly
    key = request.app[SETTINGS].session_secret
    now = utcnow()

    def work(session: Session) -> bool:
        rm = session.get(RelationshipManager, user.rm_id)
        assert rm is not None
        secret = unseal(key, rm.id, rm.totp_secret) if accounts.totp_enabled(rm) else None
        step = matching_step(secret, code, now) if secret is not None else None
        if step is None or not accounts.use_totp_step(session, rm.id, step):
            return False
        accounts.reset_totp(session, rm.id, keep=user.token_hash)  # other browsers log in again
        throttle.forgive(session, rm.login, address, attempts=1)
        session.add(AuditEvent(actor=f"rm:{rm.code}", action="console_totp_disabled", detail={}))
        return True

    if not await run_db(request, work):
        raise json_error(400, "bad_code", "验证码不正确，请核对手机上的 6 位动态验证码。")
    return web.json_response({"ok": True})


def setup_totp_routes(app: web.Application) -> None:
    app.router.add_post("/console/api/login/totp", login_code)
    app.router.add_get("/console/api/totp", status)
    app.router.add_post("/console/api/totp/setup", setup)
    app.router.add_post("/console/api/totp/confirm", confirm)
    app.router.add_post("/console/api/totp/disable", disable)

