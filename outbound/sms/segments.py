"""How many billing segments (计费条数) an SMS costs.

Chinese providers count every character alike (汉字, letters, digits, punctuation, spaces) and
count the signature 【XX农商银行】 too: up to 70 characters is one message; a longer one is sent as
a concatenated SMS whose parts carry 67 characters each (3 go to the joining header).
"""

from __future__ import annotations

SINGLE_LIMIT = 70
PART_LIMIT = 67


def segments(text: str) -> int:
    """Billing segments for the full text as the phone shows it, signature included."""
    length = len(text)
    if length == 0:
        return 0
    if length <= SINGLE_LIMIT:
        return 1
    return -(-length // PART_LIMIT)


def with_signature(sign_name: str, body: str) -> str:
    """The text the customer receives: 【签名】 followed by the rendered template."""
    return f"【{sign_name}】{body}"
