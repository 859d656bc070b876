"""Authenticate, decrypt and parse one callback request. Pure: no I/O, no side effects.

Every failure raises ``Rejected`` with an HTTP status and a short machine-readable code; the
route turns it into a response before anything is stored or any action runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.wechat.crypto import CryptoError, MessageCrypto, check_signature
from gateway.wechat.messages import MessageParseError, WeChatMessage, message_from_fields, parse_xml_fields
from gateway.wechat.settings import WeChatSettings

MAX_NONCE_CHARS = 64


class Rejected(Exception):
    """The request must be refused with ``status``; ``code`` names the reason (no secrets, no content)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class VerifiedRequest:
    """An authentic, parsed message and how its reply must be wrapped."""

    message: WeChatMessage
    encrypted: bool
    timestamp: str
    nonce: str


def check_query(settings: WeChatSettings, query: Mapping[str, str], now: float | None = None) -> tuple[str, str]:
    """Validate timestamp and nonce; return them.

    Raises:
        Rejected: missing/invalid parameters (400) or a timestamp more than the allowed skew off (403).
    """
    timestamp = query.get("timestamp", "")
    nonce = query.get("nonce", "")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise Rejected(400, "bad_timestamp")
    if not nonce or len(nonce) > MAX_NONCE_CHARS:
        raise Rejected(400, "bad_nonce")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > settings.max_clock_skew_s:
        raise Rejected(403, "stale_timestamp")
    return timestamp, nonce


def verify_echo(settings: WeChatSettings, query: Mapping[str, str], now: float | None = None) -> str:
    """URL verification (GET): return ``echostr`` if the signature is right."""
    timestamp, nonce = check_query(settings, query, now)
    echostr = query.get("echostr", "")
    if not echostr or len(echostr) > 256:
        raise Rejected(400, "bad_echostr")
    if not check_signature(query.get("signature", ""), settings.token, timestamp, nonce):
        raise Rejected(403, "bad_signature")
    return echostr


def verify_and_parse(
    settings: WeChatSettings,
    crypto: MessageCrypto | None,
    query: Mapping[str, str],
    body: bytes,
    now: float | None = None,
) -> VerifiedRequest:
    """Authenticate a POSTed callback and return the parsed message.

    Args:
        settings: the account's settings.
        crypto: message crypto for encrypted bodies (None in plain mode).
        query: the request's query parameters.
        body: the raw request body (size already limited by the caller).
        now: current Unix time (tests).

    Raises:
        Rejected: on any authentication, decoding or parsing problem.
    """
    if len(body) > settings.max_body_bytes:
        raise Rejected(413, "body_too_large")
    timestamp, nonce = check_query(settings, query, now)
    encrypt_type = query.get("encrypt_type", "raw").lower()
    if encrypt_type not in ("aes", "raw"):
        raise Rejected(400, "bad_encrypt_type")
    if settings.mode == "plain":
        encrypt_type = "raw"  # the account does not encrypt: the plaintext fields are the message
    if encrypt_type == "aes":
        fields = _decrypt(settings, crypto, query, body, timestamp, nonce)
        encrypted = True
    else:
        # Safe mode: a plaintext body is signed only over token, timestamp and nonce, so anyone
        # holding one callback URL could post any message with it.
        if settings.requires_encryption:
            raise Rejected(403, "plaintext_refused")
        if not check_signature(query.get("signature", ""), settings.token, timestamp, nonce):
            raise Rejected(403, "bad_signature")
        fields = _fields(body)
        encrypted = False
    try:
        message = message_from_fields(fields)
    except MessageParseError as exc:
        raise Rejected(400, "bad_message") from exc
    if settings.original_id and message.to_user != settings.original_id:
        raise Rejected(403, "unknown_account")
    return VerifiedRequest(message=message, encrypted=encrypted, timestamp=timestamp, nonce=nonce)


def _fields(body: bytes) -> dict[str, str]:
    try:
        return parse_xml_fields(body)
    except MessageParseError as exc:
        raise Rejected(400, "bad_xml") from exc


def _decrypt(
    settings: WeChatSettings,
    crypto: MessageCrypto | None,
    query: Mapping[str, str],
    body: bytes,
    timestamp: str,
    nonce: str,
) -> dict[str, str]:
    if crypto is None:
        raise Rejected(400, "safe_mode_not_configured")
    envelope = _fields(body)
    encrypt = envelope.get("Encrypt", "")
    if not encrypt:
        raise Rejected(400, "missing_encrypt")
    # The signature covers the ciphertext, so nothing is decrypted for unauthenticated callers
    # (no padding oracle).
    if not check_signature(query.get("msg_signature", ""), settings.token, timestamp, nonce, encrypt):
        raise Rejected(403, "bad_signature")
    try:
        plain = crypto.decrypt(encrypt)
    except CryptoError as exc:
        if str(exc) == "AppId mismatch":
            raise Rejected(403, "unknown_app_id") from exc
        raise Rejected(400, "bad_ciphertext") from exc
    fields = _fields(plain)
    outer_to = envelope.get("ToUserName")
    if outer_to and fields.get("ToUserName") and outer_to != fields["ToUserName"]:
        raise Rejected(403, "unknown_account")
    return fields
