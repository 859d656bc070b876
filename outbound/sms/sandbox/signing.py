"""Request signatures as Tencent Cloud (TC3-HMAC-SHA256) and Alibaba Cloud (ACS3-HMAC-SHA256)
compute them, so the sandbox can refuse a request the real service would refuse.

Both sign a canonical request: method, path, query, the signed headers and the payload's SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

TC3_ALGORITHM = "TC3-HMAC-SHA256"
ACS3_ALGORITHM = "ACS3-HMAC-SHA256"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


@dataclass(frozen=True)
class Authorization:
    algorithm: str
    credential: str  # Tencent: SecretId/date/service/tc3_request; Alibaba: AccessKeyId
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str) -> Authorization | None:
    """``ALGO Credential=..., SignedHeaders=a;b, Signature=hex`` (both providers' shape)."""
    algorithm, _, rest = value.strip().partition(" ")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key] = val
    if not {"Credential", "SignedHeaders", "Signature"} <= parts.keys():
        return None
    return Authorization(
        algorithm=algorithm,
        credential=parts["Credential"],
        signed_headers=tuple(h for h in parts["SignedHeaders"].lower().split(";") if h),
        signature=parts["Signature"],
    )


def _canonical_headers(headers: Mapping[str, str], names: tuple[str, ...]) -> str:
    lower = {k.lower(): v for k, v in headers.items()}
    return "".join(f"{name}:{lower.get(name, '').strip()}\n" for name in names)


def tc3_signature(
    *, secret_key: str, method: str, path: str, query: str, headers: Mapping[str, str],
    signed_headers: tuple[str, ...], body: bytes, timestamp: int, service: str,
) -> str:
    """The hex signature Tencent Cloud's API 3.0 expects (tencentcloud-sdk-python's algorithm)."""
    payload_hash = hashlib.sha256(body).hexdigest()
    if {k.lower(): v for k, v in headers.items()}.get("x-tc-content-sha256") == "UNSIGNED-PAYLOAD":
        payload_hash = hashlib.sha256(b"UNSIGNED-PAYLOAD").hexdigest()
    canonical = "\n".join(
        (method, path, query, _canonical_headers(headers, signed_headers), ";".join(signed_headers), payload_hash)
    )
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{service}/tc3_request"
    to_sign = f"{TC3_ALGORITHM}\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode("utf-8"), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def acs3_canonical_query(query: Mapping[str, str]) -> str:
    """Sorted ``key=value`` pairs, values percent-encoded except ``~`` (Alibaba's rule)."""
    return "&".join(f"{key}={quote(query[key], safe='~')}" for key in sorted(query))


def acs3_signature(
    *, secret: str, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str],
    signed_headers: tuple[str, ...], payload_hash: str,
) -> str:
    """The hex signature Alibaba Cloud's V3 (ACS3-HMAC-SHA256) scheme expects."""
    canonical = "\n".join(
        (method, path or "/", acs3_canonical_query(query), _canonical_headers(headers, signed_headers),
         ";".join(signed_headers), payload_hash)
    )
    to_sign = f"{ACS3_ALGORITHM}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
    return hmac.new(secret.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
