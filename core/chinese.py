"""Traditional → Simplified Chinese (OpenCC ``t2s``) before the bot or the FAQ matcher reads a text.

Customers from Hong Kong, Taiwan or with a traditional-script phone keyboard write 請問銀行卡掛失怎麼辦;
the NLU model and the knowledge base are simplified. The customer's own words are stored as typed;
only what the machine reads is converted.

Invisible characters (Unicode format characters: zero-width spaces and joiners, word joiner, BOM,
direction marks) are dropped on the way: 转\u200b人\u200b工 read as a transfer question and
安\u200b全\u200b账\u200b户 slipped past the scam detector, which reads through this function too.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Protocol


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


_lock = threading.Lock()
# Unicode category Cf in the BMP ranges where customers' texts carry it (soft hyphen, Arabic letter
# mark, Mongolian vowel separator, zero-width and direction marks, invisible operators, BOM).
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]")


@lru_cache(maxsize=1)
def _converter() -> _Converter:
    import opencc  # loaded on first use: its dictionaries take a moment

    converter: _Converter = opencc.OpenCC("t2s")
    return converter


def to_simplified(text: str) -> str:
    """``text`` in Simplified Chinese; ASCII-only text is returned as is without touching OpenCC."""
    if text.isascii():
        return text
    text = _INVISIBLE.sub("", text)
    with _lock:  # one converter object shared by threads; conversions are microseconds
        return _converter().convert(text)
