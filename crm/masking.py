"""Masking of personal data for anything shown in chat, consoles or logs (PIPL; JR/T 0171)."""

from __future__ import annotations

import re
from decimal import Decimal

_DIGITS = re.compile(r"\d")


def mask_card(number: str) -> str:
    """Card or account number → 尾号1234. Short or empty input gives 尾号****."""
    digits = "".join(_DIGITS.findall(number or ""))
    if len(digits) < 8:
        return "尾号****"
    return f"尾号{digits[-4:]}"


def mask_phone(phone: str) -> str:
    """Mobile number → 138****5678; anything else that is not 11 digits is fully hidden."""
    digits = "".join(_DIGITS.findall(phone or ""))
    if len(digits) != 11:
        return "***********"
    return f"{digits[:3]}****{digits[-4:]}"


def mask_name(name: str) -> str:
    """Name of a third party → 张*华 (two characters: 张*; one character: *)."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_number(id_number: str) -> str:
    """ID number → 1101**********123X (first 4 and last 4 only)."""
    value = (id_number or "").strip()
    if len(value) < 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def format_yuan(amount: Decimal | float | int) -> str:
    """12345.6 → '12,345.60元'."""
    return f"{Decimal(amount):,.2f}元"
