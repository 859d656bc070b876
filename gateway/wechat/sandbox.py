"""A local stand-in for the WeChat servers, so nothing leaves the machine in dev and tests.

It implements the APIs the bank uses (token, customer-service send, template send) with
WeChat's rules and error codes, records everything it receives, and can "play a WeChat user":
sign (and optionally encrypt) a message exactly as WeChat does, POST it to the gateway's
``/wechat`` and show the reply.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from gateway.wechat.crypto import MessageCrypto, check_signature, make_signature
from gateway.wechat.messages import MessageParseError, parse_xml_fields, render_xml
from gateway.wechat.sandbox_page import PAGE_HTML
from gateway.wechat.settings import WeChatSettings

ERR_INVALID_CREDENTIAL = 40001
ERR_INVALID_SECRET = 40125
ERR_INVALID_APPID = 40013
ERR_OUTSIDE_WINDOW = 45015
ERR_QUOTA = 45009
ERR_BAD_JSON = 47001


@dataclass
class SandboxSettings:
    """How the sandbox behaves. Defaults follow WeChat's published limits."""

    wechat: WeChatSettings
    gateway_url: str = "http://127.0.0.1:8080"
    original_id: str = "gh_bankcare_demo"
    token_ttl_s: int = 7200
    window_s: int = 48 * 3600
    window_limit: int = 5
    daily_quota: int = 100_000
    clock: Callable[[], float] = time.time

    @classmethod
    def from_env(
        cls, gateway_url: str = "http://127.0.0.1:8080", env: Mapping[str, str] | None = None
    ) -> SandboxSettings:
        """Account settings from the WECHAT_* variables, limits from SANDBOX_* (optional)."""
        env = os.environ if env is None else env
        wechat = WeChatSettings.from_env(env)
        return cls(
            wechat=wechat,
            gateway_url=gateway_url.rstrip("/"),
            original_id=env.get("WECHAT_ORIGINAL_ID") or "gh_bankcare_demo",
            window_limit=int(env.get("SANDBOX_WINDOW_LIMIT", "5")),
            daily_quota=int(env.get("SANDBOX_DAILY_QUOTA", "100000")),
        )


@dataclass
class SandboxState:
    """Everything the sandbox knows; inspectable at ``/sandbox/messages``."""

    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (sandbox clock)
    token_requests: int = 0
    last_user_message: dict[str, float] = field(default_factory=dict)
    window_sent: dict[str, int] = field(default_factory=dict)
    daily_calls: dict[tuple[str, str], int] = field(default_factory=dict)
    received: list[dict[str, Any]] = field(default_factory=list)
    played: list[dict[str, Any]] = field(default_factory=list)


SANDBOX_SETTINGS_KEY = web.AppKey("sandbox_settings", SandboxSettings)
SANDBOX_STATE_KEY = web.AppKey("sandbox_state", SandboxState)
SANDBOX_HTTP_KEY = web.AppKey("sandbox_http", aiohttp.ClientSession)


def _err(errcode: int, errmsg: str) -> web.Response:
    return web.json_response({"errcode": errcode, "errmsg": errmsg})


class _Api:
    def __init__(self, settings: SandboxSettings, state: SandboxState) -> None:
        self.s = settings
        self.state = state

    def _token_ok(self, request: web.Request) -> bool:
        expiry = self.state.tokens.get(request.query.get("access_token", ""))
        return expiry is not None and expiry > self.s.clock()

    def _quota_ok(self, api: str) -> bool:
        day = dt.datetime.fromtimestamp(self.s.clock(), dt.UTC).strftime("%Y-%m-%d")
        count = self.state.daily_calls.get((api, day), 0)
        if count >= self.s.daily_quota:
            return False
        self.state.daily_calls[(api, day)] = count + 1
        return True

    async def token(self, request: web.Request) -> web.Response:
        q = request.query
        self.state.token_requests += 1
        if q.get("grant_type") != "client_credential":
            return _err(40002, "invalid grant_type")
        if q.get("appid") != self.s.wechat.app_id:
            return _err(ERR_INVALID_APPID, "invalid appid")
        if not secrets.compare_digest(q.get("secret", ""), self.s.wechat.app_secret):
            return _err(ERR_INVALID_SECRET, "invalid appsecret")
        token = secrets.token_urlsafe(48)
        # Like WeChat, older tokens stay valid until their own expiry.
        self.state.tokens[token] = self.s.clock() + self.s.token_ttl_s
        return web.json_response({"access_token": token, "expires_in": self.s.token_ttl_s})

    async def _json(self, request: web.Request) -> dict[str, Any] | None:
        try:
            data = await request.json()
        except ValueError:
            return None
        return data if isinstance(data, dict) and isinstance(data.get("touser"), str) else None

    async def custom_send(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return _err(ERR_INVALID_CREDENTIAL, "invalid credential, access_token is invalid or not latest")
        data = await self._json(request)
        if data is None:
            return _err(ERR_BAD_JSON, "data format error")
        openid = data["touser"]
        last = self.state.last_user_message.get(openid)
        now = self.s.clock()
        if last is None or now - last > self.s.window_s:
            return _err(ERR_OUTSIDE_WINDOW, "response out of time limit or subscription is canceled")
        if self.state.window_sent.get(openid, 0) >= self.s.window_limit:
            return _err(ERR_OUTSIDE_WINDOW, "response out of time limit or subscription is canceled")
        if not self._quota_ok("custom"):
            return _err(ERR_QUOTA, "reach max api daily quota limit")
        self.state.window_sent[openid] = self.state.window_sent.get(openid, 0) + 1
        content = data.get("text", {}).get("content", "") if isinstance(data.get("text"), dict) else ""
        self._record("custom", openid, {"msgtype": data.get("msgtype"), "content": content})
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def template_send(self, request: web.Request) -> web.Response:
        if not self._token_ok(request):
            return _err(ERR_INVALID_CREDENTIAL, "invalid credential, access_token is invalid or not latest")
        data = await self._json(request)
        if data is None or not data.get("template_id"):
            return _err(ERR_BAD_JSON, "data format error")
        if not self._quota_ok("template"):
            return _err(ERR_QUOTA, "reach max api daily quota limit")
        msgid = secrets.randbelow(2**62)
        self._record(
            "template", data["touser"],
            {"template_id": data["template_id"], "data": data.get("data", {}), "url": data.get("url")},
        )  # fmt: skip
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    def _record(self, kind: str, openid: str, payload: dict[str, Any]) -> None:
        at = dt.datetime.fromtimestamp(self.s.clock(), dt.UTC).isoformat()
        self.state.received.append({"kind": kind, "touser": openid, "at": at, **payload})

    def touch_user(self, openid: str, at: float | None = None) -> None:
        """The user sent something: (re)open their 48-hour window."""
        self.state.last_user_message[openid] = self.s.clock() if at is None else at
        self.state.window_sent[openid] = 0


_API_KEY = web.AppKey("sandbox_api", _Api)


def build_user_message(settings: SandboxSettings, spec: Mapping[str, Any]) -> dict[str, str | int | float]:
    """The XML fields WeChat would send for a played user action.

    ``spec``: ``openid``, ``type`` (text, voice, image, location, event), ``content``,
    ``recognition``, ``event``, ``event_key``, ``latitude``, ``longitude``.
    """
    kind = str(spec.get("type", "text"))
    fields: dict[str, str | int | float] = {
        "ToUserName": settings.original_id,
        "FromUserName": str(spec.get("openid") or "o_sandbox_user"),
        "CreateTime": int(time.time()),
        "MsgType": kind,
    }
    if kind == "text":
        fields["Content"] = str(spec.get("content", ""))
    elif kind == "voice":
        fields.update(MediaId="sandbox-voice", Format="amr", Recognition=str(spec.get("recognition", "")))
    elif kind == "image":
        fields.update(PicUrl="http://127.0.0.1/sandbox.jpg", MediaId="sandbox-image")
    elif kind == "location":
        fields.update(
            Location_X=float(spec.get("latitude", 0)), Location_Y=float(spec.get("longitude", 0)),
            Scale=15, Label=str(spec.get("label", "")),
        )  # fmt: skip
    elif kind == "event":
        fields["Event"] = str(spec.get("event", "subscribe"))
        if spec.get("event_key"):
            fields["EventKey"] = str(spec["event_key"])
        if fields["Event"] == "LOCATION":
            fields.update(
                Latitude=float(spec.get("latitude", 0)), Longitude=float(spec.get("longitude", 0)), Precision=30.0
            )
    if kind != "event":
        fields["MsgId"] = int(spec.get("msg_id") or secrets.randbelow(2**62) + 1)
    return fields


def sign_request(settings: WeChatSettings, xml: str, *, encrypt: bool, original_id: str) -> tuple[dict[str, str], str]:
    """Query string and body exactly as WeChat would POST them."""
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    query = {"timestamp": timestamp, "nonce": nonce, "signature": make_signature(settings.token, timestamp, nonce)}
    if not encrypt:
        return query, xml
    crypto = MessageCrypto(settings.encoding_aes_key, settings.app_id)
    encrypted = crypto.encrypt(xml)
    query.update(encrypt_type="aes", msg_signature=make_signature(settings.token, timestamp, nonce, encrypted))
    return query, render_xml({"ToUserName": original_id, "Encrypt": encrypted})


def read_reply(settings: WeChatSettings, body: str) -> str | None:
    """The text of the gateway's passive reply (decrypting safe-mode replies), or None."""
    if body.strip() in ("", "success"):
        return None
    try:
        fields = parse_xml_fields(body.encode("utf-8"))
        if "Encrypt" in fields:
            ok = check_signature(
                fields.get("MsgSignature", ""), settings.token, fields.get("TimeStamp", ""),
                fields.get("Nonce", ""), fields["Encrypt"],
            )  # fmt: skip
            if not ok:
                return "[沙箱] 回复签名校验失败"
            plain = MessageCrypto(settings.encoding_aes_key, settings.app_id).decrypt(fields["Encrypt"])
            fields = parse_xml_fields(plain)
    except (MessageParseError, ValueError):
        return "[沙箱] 回复格式无法解析"
    return fields.get("Content", "")


async def _play(request: web.Request) -> web.Response:
    settings = request.app[SANDBOX_SETTINGS_KEY]
    api: _Api = request.app[_API_KEY]
    try:
        spec = await request.json()
    except ValueError:
        return web.json_response({"error": "请求不是有效的 JSON"}, status=400)
    if not isinstance(spec, dict):
        return web.json_response({"error": "请求格式不正确"}, status=400)
    fields = build_user_message(settings, spec)
    xml = render_xml(fields)
    query, body = sign_request(
        settings.wechat, xml, encrypt=bool(spec.get("encrypt", True)), original_id=settings.original_id
    )
    openid = str(fields["FromUserName"])
    if not (fields["MsgType"] == "event" and fields.get("Event") in ("unsubscribe", "VIEW")):
        api.touch_user(openid)
    http = request.app[SANDBOX_HTTP_KEY]
    started = time.monotonic()
    try:
        async with http.post(settings.gateway_url + "/wechat", params=query, data=body.encode("utf-8")) as resp:
            status, raw = resp.status, await resp.text()
    except (aiohttp.ClientError, TimeoutError):
        return web.json_response(
            {"error": "无法连接网关，请确认网关已启动", "gateway": settings.gateway_url}, status=502
        )
    reply = read_reply(settings.wechat, raw) if status == 200 else None
    entry = {
        "openid": openid, "request": fields, "encrypted": bool(spec.get("encrypt")), "status": status,
        "reply": reply, "elapsed_ms": int((time.monotonic() - started) * 1000),
    }  # fmt: skip
    api.state.played.append(entry)
    return web.json_response(entry)


async def _messages(request: web.Request) -> web.Response:
    """Everything received and played; ``?summary=1``: only counts (for benchmarks of many sends)."""
    state = request.app[SANDBOX_STATE_KEY]
    if request.query.get("summary"):
        kinds: dict[str, int] = {}
        for entry in state.received:
            kinds[entry["kind"]] = kinds.get(entry["kind"], 0) + 1
        return web.json_response(
            {
                "received": len(state.received),
                "recipients": len({entry["touser"] for entry in state.received}),
                "by_kind": kinds,
                "played": len(state.played),
                "token_requests": state.token_requests,
            }
        )
    return web.json_response(
        {"received": state.received, "played": state.played, "token_requests": state.token_requests}
    )


async def _control(request: web.Request) -> web.Response:
    """Test hooks: ``expire_tokens``, ``touch_user`` (openid, at), ``touch_users`` (openids, at:
    many users at once, e.g. a benchmark's sample), ``reset``."""
    api: _Api = request.app[_API_KEY]
    data = await request.json()
    action = data.get("action")
    if action == "expire_tokens":
        api.state.tokens.clear()
    elif action == "touch_user":
        api.touch_user(str(data["openid"]), data.get("at"))
    elif action == "touch_users":
        openids = data.get("openids")
        if not isinstance(openids, list):
            return web.json_response({"error": "openids must be a list"}, status=400)
        for openid in openids:
            api.touch_user(str(openid), data.get("at"))
        return web.json_response({"ok": True, "touched": len(openids)})
    elif action == "reset":
        state = SandboxState()
        api.state.__dict__.update(state.__dict__)
    else:
        return web.json_response({"error": "unknown action"}, status=400)
    return web.json_response({"ok": True})


async def _page(_request: web.Request) -> web.Response:
    return web.Response(text=PAGE_HTML, content_type="text/html", charset="utf-8")


# The page has its script and style inline, so the policy allows them; everything else is as strict
# as the gateway's pages (gateway/security_headers.py): no framing, no sniffing, no referrer.
JSON = "application/json"
SANDBOX_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)


@web.middleware
async def _json_posts_only(request: web.Request, handler: Any) -> web.StreamResponse:
    """A POST must say application/json: a form or text/plain POST from another site's page (no CORS
    preflight) could otherwise make the sandbox sign and send messages as any WeChat user."""
    if request.method == "POST" and request.path.startswith("/sandbox/") and request.content_type != JSON:
        return web.json_response({"error": "请求须为 application/json"}, status=415)
    response: web.StreamResponse = await handler(request)
    return response


async def _hardening_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.content_type == "text/html":
        response.headers["Content-Security-Policy"] = SANDBOX_CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"


def create_sandbox_app(settings: SandboxSettings) -> web.Application:
    """The sandbox as an aiohttp application (see module docstring)."""
    app = web.Application(middlewares=[_json_posts_only])
    app.on_response_prepare.append(_hardening_headers)
    state = SandboxState()
    api = _Api(settings, state)
    app[SANDBOX_SETTINGS_KEY] = settings
    app[SANDBOX_STATE_KEY] = state
    app[_API_KEY] = api

    async def http_session(app: web.Application):  # type: ignore[no-untyped-def]
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            app[SANDBOX_HTTP_KEY] = http
            yield

    app.cleanup_ctx.append(http_session)
    app.router.add_get("/cgi-bin/token", api.token)
    app.router.add_post("/cgi-bin/message/custom/send", api.custom_send)
    app.router.add_post("/cgi-bin/message/template/send", api.template_send)
    app.router.add_get("/", _page)
    app.router.add_get("/sandbox", _page)
    app.router.add_get("/sandbox/messages", _messages)
    app.router.add_post("/sandbox/play", _play)
    app.router.add_post("/sandbox/control", _control)
    return app
