"""Traditional → Simplified Chinese (OpenCC ``t2s``) before the bot or the FAQ matcher reads a text.

Customers from Hong Kong, Taiwan or with a traditional-script phone keyboard write 請問銀行卡掛失怎麼辦;
the NLU model and the knowledge base are simplified. The customer's own words are stored as typed;
only what the machine reads is converted.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Protocol


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


_lock = threading.Lock()


@lru_cache(maxsize=1)
def _converter() -> _Converter:
    import opencc  # loaded on first use: its dictionaries take a moment

    converter: _Converter = opencc.OpenCC("t2s")
    return converter


def to_simplified(text: str) -> str:
    """``text`` in Simplified Chinese; ASCII-only text is returned as is without touching OpenCC."""
    if text.isascii():
        return text
    with _lock:  # one converter object shared by threads; conversions are microseconds
        return _converter().convert(text)
