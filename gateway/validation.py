"""Parsing of untrusted request parts: every malformed value becomes a 4xx before anything is stored.

The gateway's handlers read JSON bodies, ids in paths and query strings, cookies and headers through
these functions, so that types, ranges and encodings are checked before a database write or a call
to the bot. What used to get through and end in HTTP 500 (issue #19): lone surrogates (JSON allows
``"\\ud800"``; UTF-8, SQLite and PostgreSQL do not), NUL characters (PostgreSQL text refuses them),
integers beyond a 64-bit column, floats where an id belongs, lists where a string belongs, and
non-ASCII bytes in cookies and headers (``hmac.compare_digest`` refuses non-ASCII ``str``).
"""

from __future__ import annotations

import json
import re
from typing import Any, NoReturn

from aiohttp import web

#: The largest id a BIGINT (and SQLite INTEGER) column holds.
MAX_ID = 2**63 - 1
BAD_REQUEST = "参数不正确。"
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: int() would also take "١٢" and "１２"
_TOKEN = re.compile(r"[\x21-\x7e]{1,512}")  # visible ASCII, what our cookies and CSRF tokens are made of


def json_error(status: int, code: str, message: str) -> web.HTTPException:
    """An HTTP 4xx with the gateway's JSON error body ``{"error": code, "message": 中文说明}``."""
    cls: type[web.HTTPException] = {
        400: web.HTTPBadRequest,
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
        429: web.HTTPTooManyRequests,
    }[status]
    return cls(
        text=json.dumps({"error": code, "message": message}, ensure_ascii=False),
        content_type="application/json",
    )


def bad_request(message: str = BAD_REQUEST, code: str = "bad_request") -> NoReturn:
    raise json_error(400, code, message)


def is_clean_text(value: str) -> bool:
    """True when ``value`` can be stored anywhere: valid UTF-8 (no lone surrogate) and no NUL."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")  # Python's json would take NaN and Infinity


def _all_text_clean(value: object) -> bool:
    """Every string in a parsed JSON document, keys included, is clean (iterative: no recursion limit)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not is_clean_text(item):
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def parse_json(raw: bytes, *, clean_text: bool = True) -> Any:
    """Strict JSON from bytes: UTF-8, no NaN/Infinity, no unclean text; ``ValueError`` otherwise.

    ``clean_text=False`` lets lone surrogates and NUL through, for a caller that checks its fields itself.
    Unlike ``request.json()`` this ignores the declared charset (``charset=nope`` raised LookupError).
    """
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError as exc:  # "[[[[..." deeper than the interpreter's stack
        raise ValueError("nested too deeply") from exc
    if clean_text and not _all_text_clean(doc):
        raise ValueError("text that cannot be stored")
    return doc


async def json_object(request: web.Request, *, optional: bool = False) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 (413 beyond the app's size limit).

    Args:
        request: the request; its charset parameter is ignored, the body must be UTF-8.
        optional: an empty body counts as ``{}`` (e.g. starting a web chat session).
    """
    raw = await request.read()
    if optional and not raw.strip():
        return {}
    try:
        body = parse_json(raw)
    except ValueError:  # also UnicodeDecodeError and json.JSONDecodeError
        bad_request("请求格式不正确。")
    if not isinstance(body, dict):
        bad_request("请求格式不正确。")
    return body


def text_field(
    body: dict[str, Any], name: str, *, max_len: int, required: bool = True, code: str = "bad_request"
) -> str:
    """``body[name]`` as stripped clean text; missing is ``""`` unless ``required``; too long is a 400."""
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not is_clean_text(value):
        bad_request(code=code)
    if len(value) > max_len:
        bad_request("内容太长了，请分几次发送。", "too_long")
    return value.strip()


def bounded_int(value: object, *, lo: int = 0, hi: int = MAX_ID) -> int | None:
    """An integer in ``[lo, hi]`` from a JSON integer or a string of ASCII digits; anything else is None.

    Booleans, floats (``1e30``, ``1.0``), signs, spaces and non-ASCII digits are not integers here.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
    else:
        return None
    return number if lo <= number <= hi else None


def optional_id(value: object, *, field_name: str = "after") -> int:
    """A non-negative id where absent or empty means 0 (``after`` cursors); a 400 if malformed."""
    if value is None or value == "":
        return 0
    number = bounded_int(value)
    if number is None:
        bad_request(f"{field_name} 参数应为消息编号。", "bad_" + field_name)
    return number


def path_id(request: web.Request, name: str) -> int | None:
    """A positive id from the URL path, or None if it cannot name a row (callers answer 404)."""
    return bounded_int(request.match_info.get(name, ""), lo=1)


def ascii_token(value: str | None) -> str | None:
    """A cookie or header token if it is visible ASCII of sane length; otherwise None (treated as absent).

    aiohttp hands non-UTF-8 header bytes over as surrogate escapes; they can never match a token we
    issued, and ``hmac.compare_digest`` and ``str.encode`` would raise on them.
    """
    if value is None or not _TOKEN.fullmatch(value):
        return None
    return value
