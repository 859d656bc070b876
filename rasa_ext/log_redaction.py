"""Rasa's own warnings and log lines without customers' numbers.

Rasa quotes what a customer typed in some of its warnings: a message shaped like a button payload
whose entities it does not know (``/inform{"phone":"13912345678","x":1}``, typed into any chat)
printed the whole line, phone number included, to the Rasa process's log. The app processes pass
every record through ``core.logs``' redaction; Rasa does not use ``core.logs``, so this module puts
the same number masking (``core.masking.redact_numbers``: 138****5678, 尾号1234, 证件尾号123X) in
front of Python's warning output and every log record the Rasa process creates.

Installed once when Rasa loads the REST channel or a tracker store of ``rasa_ext`` (both always
configured), before the first message arrives. Like ``core.logs``, it is a safety net, not a licence.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, TextIO

from core.masking import redact_numbers

_installed = False


def _redacted_warning(message: Warning | str, category: type[Warning]) -> Warning | str:
    text = str(message)
    safe = redact_numbers(text)
    if safe == text:
        return message
    return category(safe) if isinstance(message, Warning) else safe


def install() -> None:
    """Redact numbers in warnings and log records from now on (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    show = warnings.showwarning

    def showwarning(
        message: Warning | str, category: type[Warning], filename: str, lineno: int,
        file: TextIO | None = None, line: str | None = None,
    ) -> None:  # fmt: skip
        show(_redacted_warning(message, category), category, filename, lineno, file, line)

    warnings.showwarning = showwarning
    make_record = logging.getLogRecordFactory()

    def record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a badly formatted record is logging's own error to report
            return record
        safe = redact_numbers(text)
        if safe != text:
            record.msg, record.args = safe, None
        return record

    logging.setLogRecordFactory(record_factory)
