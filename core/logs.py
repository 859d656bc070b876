"""Structured logging with a redaction filter for customer data.

Every service calls :func:`configure_logging` once at start-up. Records become one JSON object per
line (``ts``, ``level``, ``service``, ``logger``, ``msg`` plus any ``extra`` fields) or a readable
text line. Before any handler sees a record, phone numbers, ID numbers, card/account numbers and
fields named like ``balance`` or ``phone`` are masked -- in the message, its args, the extra
fields and the rendered exception traceback. Redaction happens in three places on purpose
(when the record is made, a filter on every handler, the formatters) because a bank's logs end up in
shared systems and one missed path is one leak too many.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from core.masking import redact_numbers

LogFormat = Literal["json", "text"]

#: Field names whose values are never logged, whatever they contain.
SENSITIVE_KEYS = frozenset(
    {
        "balance",
        "amount",
        "phone",
        "mobile",
        "id_number",
        "id_no",
        "card_no",
        "card_number",
        "account_no",
        "password",
        "pin",
    }
)
MASK = "***"

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RESERVED = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "_bankcare_redacted",
}

# ``balance=123.45``, ``"phone": "..."`` and similar key/value pairs inside free text.
_KEYS_ALT = "|".join(sorted(SENSITIVE_KEYS, key=len, reverse=True))
_KEY_VALUE = re.compile(
    r"""(?P<key>["']?\b(?:""" + _KEYS_ALT + r""")\b["']?\s*[=:]\s*)"""
    r"""(?P<value>"[^"]*"|'[^']*'|[¥￥$]?-?\d[\d,]*(?:\.\d+)?|[^\s,;)}\]]+)""",
    re.IGNORECASE,
)
# Chinese wording for money: 余额 12,345.67 元, 金额：¥500, and a balance as customers type it in a
# message that may reach a log: 我卡里还有三万二, 卡上还剩8600块, 余额显示3.2万, 存折上还有6万3.
_CN_AMOUNT = "零〇一二两三四五六七八九十百千万亿"
_MONEY_ZH = re.compile(
    r"(余额|金额|可用额度|欠款|卡里|卡上|账上|账户里|存折上|存折里|折子上)"
    rf"(\s*[:：为是]?\s*|[^\d{_CN_AMOUNT}，。,;；!！?？\n]{{1,6}}?)"
    r"[¥￥]?\s*-?"
    rf"(?>\d[\d,]*(?:\.\d+)?(?:[万千](?:\d(?![\d.]))?)?|[{_CN_AMOUNT}]*[{_CN_AMOUNT[:-3]}][{_CN_AMOUNT}点]*)"
    r"(?!\s*[张天次个年月日号期笔位人岁%％])"  # 卡上有3张, 还有2天到期: no money
)

def _mask_key_value(m: re.Match[str]) -> str:
    return f"{m.group('key')}{MASK}"


def _mask_money(m: re.Match[str]) -> str:
    return f"{m.group(1)}{m.group(2)}{MASK}"


def redact_text(text: str) -> str:
    """Mask numbers and sensitive key/value pairs (``balance=…``, ``余额 …``) in ``text``.

    Applying it again to its own output changes nothing, so several layers may apply it.

    Examples:
        >>> redact_text("客户 13812345678 卡号 6222020200112233445 balance=1,234.50")
        '客户 138****5678 卡号 尾号3445 balance=***'
    """
    if not text:
        return text
    text = _KEY_VALUE.sub(_mask_key_value, text)
    text = _MONEY_ZH.sub(_mask_money, text)
    return redact_numbers(text)


def redact_value(value: Any, key: str | None = None) -> Any:
    """Redact any value that may end up in a log record.

    Values under a sensitive key are replaced whole; strings are pattern-masked; mappings and
    sequences are walked; numbers that look like phone/card numbers become masked strings.
    """
    if key is not None and key.lower() in SENSITIVE_KEYS:
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        as_text = str(value)
        masked = redact_text(as_text)
        return value if masked == as_text else masked
    if isinstance(value, float):
        return value
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(v) for v in value]
    # Unknown objects: their repr may carry customer data, so log the masked text instead.
    return redact_text(repr(value))


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask customer data in ``record`` in place and return it; safe to call repeatedly."""
    if not getattr(record, "_bankcare_redacted", False):
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not drop the record, nor leak its args
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            rendered = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = redact_text(rendered)
            # Drop the live exception: another handler's formatter would re-render it unmasked.
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        record._bankcare_redacted = True
    # ``extra=`` fields are set by Logger.makeRecord *after* the record factory ran, so they are
    # redacted on every call (redaction is stable, so repeating it is harmless).
    for name in list(vars(record)):
        if name not in _RESERVED:
            setattr(record, name, redact_value(getattr(record, name), name))
    return record


class RedactingFilter(logging.Filter):
    """Handler filter that masks customer data; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RESERVED}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, service, logger, msg, extra fields, exc."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _extra_fields(record).items():
            payload.setdefault(key, value)
        if record.exc_text:
            payload["exc"] = record.exc_text
        if record.stack_info:
            payload["stack"] = record.stack_info
        line = json.dumps(payload, ensure_ascii=False, default=str)
        # Last line of defence: number masks only introduce digits, '*' and CJK, so JSON stays valid.
        return redact_numbers(line)


class TextFormatter(logging.Formatter):
    """Readable single-line format for development, with extra fields as key=value."""

    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)-7s {service} %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        redact_record(record)
        text = super().format(record)
        extras = _extra_fields(record)
        if extras:
            first, nl, rest = text.partition("\n")
            pairs = " ".join(f"{k}={v}" for k, v in extras.items())
            text = f"{first} {pairs}{nl}{rest}"
        return redact_numbers(text)


_HANDLER_NAME = "bankcare"
_original_make_record: Any = None


def _install_record_hook() -> None:
    """Redact every record as it is made, so handlers added later (by libraries) see masked data.

    ``Logger.makeRecord`` is the documented override point and, unlike the record factory, runs
    after ``extra=`` fields are attached. Patching the class reaches loggers that already exist.
    """
    global _original_make_record
    if _original_make_record is not None:
        return
    original = logging.Logger.makeRecord
    _original_make_record = original

    def make_record(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(original(self, *args, **kwargs))

    logging.Logger.makeRecord = make_record  # type: ignore[method-assign]


def _all_handlers() -> list[logging.Handler]:
    handlers = list(logging.getLogger().handlers)
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            handlers.extend(logger.handlers)
    return handlers


def configure_logging(
    service: str,
    fmt: LogFormat = "json",
    level: int | str = logging.INFO,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Configure the root logger for ``service``; call once at process start-up.

    Replaces a handler installed by an earlier call (so tests and reloads do not duplicate
    output), attaches :class:`RedactingFilter` to every handler already present anywhere in the
    logging tree, and redacts every record as it is made (``Logger.makeRecord``).

    Args:
        service: name put in every record, e.g. ``"gateway"``.
        fmt: ``"json"`` for production, ``"text"`` for a terminal.
        level: root log level.
        stream: where to write (default ``sys.stderr``).

    Returns:
        The handler that was installed.
    """
    if fmt not in ("json", "text"):
        raise ValueError(f"LOG_FORMAT 只能是 json 或 text (must be json or text), got {fmt!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter(service))
    root.addHandler(handler)
    root.setLevel(level)
    for h in _all_handlers():
        if not any(isinstance(f, RedactingFilter) for f in h.filters):
            h.addFilter(RedactingFilter())
    _install_record_hook()
    logging.captureWarnings(True)
    return handler


def unconfigure_logging() -> None:
    """Undo :func:`configure_logging` (tests, embedding): remove the handler and the record hook."""
    global _original_make_record
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    if _original_make_record is not None:
        logging.Logger.makeRecord = _original_make_record  # type: ignore[method-assign]
        _original_make_record = None
