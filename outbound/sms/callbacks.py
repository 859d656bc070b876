"""Delivery reports (状态回执) and inbound replies (上行短信) as the providers push them.

Pure functions from the pushed JSON to typed records; the gateway's routes call them and answer
with the acknowledgement the provider expects (``TENCENT_ACK`` / ``ALIYUN_ACK``). Formats:

- Tencent Cloud report: a JSON array of ``{user_receive_time, nationcode, mobile, report_status
  (SUCCESS|FAIL), errmsg, description, sid}``; reply: one object ``{extend, mobile, nationcode,
  sign, text, time}`` (a Unix timestamp).
- Alibaba Cloud report: a JSON array of ``{phone_number, send_time, report_time, success, err_code,
  err_msg, sms_size, biz_id, out_id}``; reply: an array of ``{phone_number, send_time, content,
  sign_name, dest_code, sequence_id}``. Times are Beijing time ``YYYY-MM-DD HH:MM:SS``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from outbound.sms.results import national_number

CHINA = ZoneInfo("Asia/Shanghai")
TENCENT_ACK = {"result": 0, "errmsg": "OK"}
ALIYUN_ACK = {"code": 0, "msg": "成功"}
# Carrier codes that mean the number itself cannot receive SMS (空号, 停机, 销号).
HARD_FAILURE_CODES = frozenset({"MN:0001", "MN:0011", "MK:0001", "IC:0001"})
HARD_FAILURE_WORDS = ("空号", "停机", "销号")
# What a customer sends to stop marketing SMS (the opt-out phrase of marketing templates says R).
OPT_OUT_WORDS = frozenset({"R", "T", "TD", "退订"})
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


class CallbackError(ValueError):
    """The pushed body is not what the provider sends; answer 400."""


@dataclass(frozen=True)
class DeliveryReport:
    provider: str  # tencent | aliyun
    phone: str  # 11-digit national number
    provider_message_id: str  # Tencent sid (SerialNo) / Alibaba biz_id
    delivered: bool
    code: str  # DELIVRD / DELIVERED or the carrier's failure code
    description: str
    reported_at: dt.datetime | None  # aware (UTC)
    context: str = ""  # Alibaba out_id (what was sent as OutId)
    hard_failure: bool = False  # empty or suspended number: counts towards "unreachable"


@dataclass(frozen=True)
class InboundReply:
    provider: str
    phone: str
    text: str
    received_at: dt.datetime | None  # aware (UTC)
    sign_name: str = ""

    @property
    def is_opt_out(self) -> bool:
        return is_opt_out(self.text)


def is_opt_out(text: str) -> bool:
    """R, T, TD or 退订 (any case, full-width or with punctuation around it)."""
    word = _NOISE.sub("", unicodedata.normalize("NFKC", text or "")).upper()
    return word in OPT_OUT_WORDS


def _load(payload: bytes | str | Any) -> Any:
    if isinstance(payload, bytes | str):
        try:
            return json.loads(payload)
        except ValueError:
            raise CallbackError("回调内容不是 JSON") from None
    return payload


def _items(payload: bytes | str | Any) -> list[Mapping[str, Any]]:
    data = _load(payload)
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(item, Mapping) for item in items):
        raise CallbackError("回调内容应为对象或对象数组")
    return items


def _field(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if value is None or value == "":
        raise CallbackError(f"回调缺少字段 {name}")
    return str(value)


def _china_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA).astimezone(dt.UTC)
    except ValueError:
        return None


def _hard(code: str, description: str) -> bool:
    return code in HARD_FAILURE_CODES or any(word in description for word in HARD_FAILURE_WORDS)


def parse_tencent_reports(payload: bytes | str | Any) -> list[DeliveryReport]:
    reports = []
    for item in _items(payload):
        delivered = str(item.get("report_status", "")).upper() == "SUCCESS"
        code = str(item.get("errmsg") or "")
        description = str(item.get("description") or "")
        reports.append(
            DeliveryReport(
                provider="tencent",
                phone=national_number(_field(item, "mobile")),
                provider_message_id=_field(item, "sid"),
                delivered=delivered,
                code=code,
                description=description,
                reported_at=_china_time(item.get("user_receive_time")),
                hard_failure=not delivered and _hard(code, description),
            )
        )
    return reports


def parse_tencent_replies(payload: bytes | str | Any) -> list[InboundReply]:
    replies = []
    for item in _items(payload):
        at = item.get("time")
        try:
            received = dt.datetime.fromtimestamp(int(at), dt.UTC) if at not in (None, "") else None
        except (TypeError, ValueError, OverflowError):
            received = None
        replies.append(
            InboundReply(
                provider="tencent",
                phone=national_number(_field(item, "mobile")),
                text=str(item.get("text") or ""),
                received_at=received,
                sign_name=str(item.get("sign") or ""),
            )
        )
    return replies


def parse_aliyun_reports(payload: bytes | str | Any) -> list[DeliveryReport]:
    reports = []
    for item in _items(payload):
        success = item.get("success")
        delivered = success is True or str(success).lower() == "true"
        code = str(item.get("err_code") or "")
        description = str(item.get("err_msg") or "")
        reports.append(
            DeliveryReport(
                provider="aliyun",
                phone=national_number(_field(item, "phone_number")),
                provider_message_id=_field(item, "biz_id"),
                delivered=delivered,
                code=code,
                description=description,
                reported_at=_china_time(item.get("report_time")),
                context=str(item.get("out_id") or ""),
                hard_failure=not delivered and _hard(code, description),
            )
        )
    return reports


def parse_aliyun_replies(payload: bytes | str | Any) -> list[InboundReply]:
    return [
        InboundReply(
            provider="aliyun",
            phone=national_number(_field(item, "phone_number")),
            text=str(item.get("content") or ""),
            received_at=_china_time(item.get("send_time")),
            sign_name=str(item.get("sign_name") or ""),
        )
        for item in _items(payload)
    ]
