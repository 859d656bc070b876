"""Typed WeChat Official Account messages: safe parsing of inbound XML and reply builders."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET  # noqa: S405 - only for the ParseError type and building
from collections.abc import Mapping
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as _safe_fromstring

MAX_FIELD_CHARS = 8192


class MessageParseError(ValueError):
    """The body is not a well-formed, safe, complete WeChat message."""


@dataclass(frozen=True)
class WeChatMessage:
    """Fields every inbound message and event carries."""

    to_user: str  # the account's original id (gh_...)
    from_user: str  # the customer's openid
    create_time: int
    msg_type: str

    @property
    def dedupe_key(self) -> str:
        """``msg:<openid>:<MsgId>`` for messages, ``evt:<openid>:<CreateTime>`` for events.

        Always with the sender: a MsgId re-posted under another openid must never be answered
        from (or with) the first sender's stored reply.
        """
        msg_id = getattr(self, "msg_id", None)
        if msg_id:
            return f"msg:{self.from_user}:{msg_id}"
        return f"evt:{self.from_user}:{self.create_time}"


@dataclass(frozen=True)
class TextMessage(WeChatMessage):
    content: str = ""
    msg_id: str = ""


@dataclass(frozen=True)
class ImageMessage(WeChatMessage):
    pic_url: str = ""
    media_id: str = ""
    msg_id: str = ""


@dataclass(frozen=True)
class VoiceMessage(WeChatMessage):
    media_id: str = ""
    format: str = ""
    recognition: str | None = None  # WeChat's speech-to-text, when enabled for the account
    msg_id: str = ""


@dataclass(frozen=True)
class VideoMessage(WeChatMessage):
    """``video`` and ``shortvideo`` (see ``msg_type``)."""

    media_id: str = ""
    thumb_media_id: str = ""
    msg_id: str = ""


@dataclass(frozen=True)
class LocationMessage(WeChatMessage):
    latitude: float = 0.0
    longitude: float = 0.0
    scale: int = 0
    label: str = ""
    msg_id: str = ""


@dataclass(frozen=True)
class LinkMessage(WeChatMessage):
    title: str = ""
    description: str = ""
    url: str = ""
    msg_id: str = ""


@dataclass(frozen=True)
class SubscribeEvent(WeChatMessage):
    scene: str | None = None  # qrscene_ value without the prefix (e.g. an RM referral code)
    ticket: str = ""


@dataclass(frozen=True)
class UnsubscribeEvent(WeChatMessage):
    pass


@dataclass(frozen=True)
class ScanEvent(WeChatMessage):
    """An already-following user scanned a parametric QR code."""

    scene: str = ""
    ticket: str = ""


@dataclass(frozen=True)
class ClickEvent(WeChatMessage):
    key: str = ""


@dataclass(frozen=True)
class ViewEvent(WeChatMessage):
    url: str = ""


@dataclass(frozen=True)
class LocationEvent(WeChatMessage):
    """Periodic location report (if the user allowed it)."""

    latitude: float = 0.0
    longitude: float = 0.0
    precision: float = 0.0


@dataclass(frozen=True)
class OtherMessage(WeChatMessage):
    """A valid message or event this gateway does not act on (e.g. TEMPLATESENDJOBFINISH)."""

    event: str = ""


def parse_xml_fields(body: bytes | str) -> dict[str, str]:
    """Parse ``<xml>`` with flat children into a dict, refusing DTDs, entities and externals.

    Nested elements (none in inbound messages) are ignored. Raises MessageParseError.
    """
    try:
        root = _safe_fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ET.ParseError, ValueError, TypeError, LookupError) as exc:
        raise MessageParseError(type(exc).__name__) from exc
    if root.tag != "xml":
        raise MessageParseError("root element must be <xml>")
    fields: dict[str, str] = {}
    for child in root:
        if not isinstance(child.tag, str) or len(child) > 0:
            continue
        text = (child.text or "").strip()
        if len(text) > MAX_FIELD_CHARS:
            raise MessageParseError("field too long")
        fields[child.tag] = text
    return fields


def _require(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise MessageParseError(f"missing {name}")
    return value


def _int(fields: Mapping[str, str], name: str, *, required: bool = True) -> int:
    raw = fields.get(name, "")
    if not raw and not required:
        return 0
    if not raw.isascii() or not raw.isdigit() or len(raw) > 20:
        raise MessageParseError(f"bad {name}")
    return int(raw)


def _float(fields: Mapping[str, str], name: str, low: float, high: float) -> float:
    try:
        value = float(_require(fields, name))
    except ValueError as exc:
        raise MessageParseError(f"bad {name}") from exc
    if not low <= value <= high:  # also rejects NaN
        raise MessageParseError(f"bad {name}")
    return value


def parse_message(body: bytes | str) -> WeChatMessage:
    """Parse an inbound (already decrypted) message or event.

    Raises:
        MessageParseError: unsafe or malformed XML, or required fields missing/invalid.
    """
    return message_from_fields(parse_xml_fields(body))


_BaseFields = tuple[str, str, int, str]  # to_user, from_user, create_time, msg_type


def message_from_fields(f: Mapping[str, str]) -> WeChatMessage:
    """Build the typed message from parsed fields (see ``parse_message``)."""
    base: _BaseFields = (
        _require(f, "ToUserName"),
        _require(f, "FromUserName"),
        _int(f, "CreateTime"),
        _require(f, "MsgType").lower(),
    )
    mt = base[3]
    if mt == "event":
        return _event_from_fields(f, base)
    msg_id = str(_int(f, "MsgId"))
    if mt == "text":
        return TextMessage(*base, content=f.get("Content", ""), msg_id=msg_id)
    if mt == "image":
        return ImageMessage(*base, pic_url=f.get("PicUrl", ""), media_id=f.get("MediaId", ""), msg_id=msg_id)
    if mt == "voice":
        recognition = f.get("Recognition") or None
        return VoiceMessage(
            *base, media_id=f.get("MediaId", ""), format=f.get("Format", ""),
            recognition=recognition, msg_id=msg_id,
        )  # fmt: skip
    if mt in ("video", "shortvideo"):
        return VideoMessage(
            *base, media_id=f.get("MediaId", ""), thumb_media_id=f.get("ThumbMediaId", ""), msg_id=msg_id
        )
    if mt == "location":
        return LocationMessage(
            *base,
            latitude=_float(f, "Location_X", -90, 90),
            longitude=_float(f, "Location_Y", -180, 180),
            scale=_int(f, "Scale", required=False),
            label=f.get("Label", ""),
            msg_id=msg_id,
        )
    if mt == "link":
        return LinkMessage(
            *base, title=f.get("Title", ""), description=f.get("Description", ""),
            url=f.get("Url", ""), msg_id=msg_id,
        )  # fmt: skip
    return OtherMessage(*base)


def _event_from_fields(f: Mapping[str, str], base: _BaseFields) -> WeChatMessage:
    event = _require(f, "Event")
    kind = event.lower()
    key = f.get("EventKey", "")
    if kind == "subscribe":
        scene = key[len("qrscene_") :] if key.startswith("qrscene_") else None
        return SubscribeEvent(*base, scene=scene or None, ticket=f.get("Ticket", ""))
    if kind == "unsubscribe":
        return UnsubscribeEvent(*base)
    if kind == "scan":
        return ScanEvent(*base, scene=key, ticket=f.get("Ticket", ""))
    if kind == "click":
        return ClickEvent(*base, key=_require(f, "EventKey"))
    if kind == "view":
        return ViewEvent(*base, url=key)
    if kind == "location":
        return LocationEvent(
            *base,
            latitude=_float(f, "Latitude", -90, 90),
            longitude=_float(f, "Longitude", -180, 180),
            precision=_float(f, "Precision", 0, 1e7) if f.get("Precision") else 0.0,
        )
    return OtherMessage(*base, event=event)


def _cdata(value: str) -> str:
    # "]]>" cannot appear inside CDATA: split it across two sections.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_xml(fields: Mapping[str, str | int | float]) -> str:
    """Render flat fields as WeChat XML: strings in CDATA, numbers bare."""
    parts = ["<xml>"]
    for name, value in fields.items():
        text = _cdata(value) if isinstance(value, str) else str(value)
        parts.append(f"<{name}>{text}</{name}>")
    parts.append("</xml>")
    return "".join(parts)


def build_text_reply(to_user: str, from_user: str, content: str, create_time: int | None = None) -> str:
    """Passive text reply. ``to_user`` is the customer's openid, ``from_user`` the account id."""
    return render_xml(
        {
            "ToUserName": to_user,
            "FromUserName": from_user,
            "CreateTime": int(time.time()) if create_time is None else create_time,
            "MsgType": "text",
            "Content": content,
        }
    )


def build_encrypted_envelope(encrypt: str, msg_signature: str, timestamp: str, nonce: str) -> str:
    """The safe-mode reply wrapper around an encrypted passive reply."""
    return (
        f"<xml><Encrypt>{_cdata(encrypt)}</Encrypt><MsgSignature>{_cdata(msg_signature)}</MsgSignature>"
        f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{_cdata(nonce)}</Nonce></xml>"
    )
