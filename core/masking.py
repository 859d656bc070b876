"""Masking of personal data for anything shown in chat, consoles or logs (PIPL; JR/T 0171).

Standard library only and Python 3.10 compatible: the Rasa process (its own venv) imports it too.
"""

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


# Two-character surnames that appear in the customer base; everything else is one character.
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 诸葛 上官 东方 皇甫 尉迟 公孙 慕容 令狐 长孙 宇文 司徒 夏侯 端木 轩辕 澹台 "
    "申屠 西门 南宫 百里 呼延 万俟 闻人 赫连 独孤 太史 钟离 宗政 濮阳 公冶 仲孙 单于".split()
)


def surname(name: str) -> str:
    """The family name of a Chinese personal name (handles 欧阳, 司马 ...)."""
    name = name.strip()
    if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES:
        return name[:2]
    return name[:1]


def mask_customer_name(name: str) -> str:
    """A customer's name on staff screens (care previews, reports) → 张*华, 李*, 欧阳*月.

    Unlike :func:`mask_name` it keeps a compound surname whole, so staff can still tell 欧阳 from
    欧 when they greet the customer as 欧阳女士; never show a full name in previews or logs.
    """
    name = name.strip()
    if not name:
        return ""
    family = surname(name)
    rest = name[len(family) :]
    if len(rest) <= 1:
        return family + "*" * len(rest)
    return family + "*" * (len(rest) - 1) + rest[-1]


def mask_id_number(id_number: str) -> str:
    """ID number → 1101**********123X (first 4 and last 4 only)."""
    value = (id_number or "").strip()
    if len(value) < 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def format_yuan(amount: Decimal | float | int) -> str:
    """12345.6 → '12,345.60元'."""
    return f"{Decimal(amount):,.2f}元"


# ASCII and full-width digits: customers typing on Chinese input methods often produce the latter.
_D = "[0-9\uff10-\uff19]"
# Mainland mobile numbers, optionally +86 / 86 prefixed and split by spaces or dashes.
_PHONE = re.compile(
    rf"(?<!{_D})(?:[+\uff0b]?[8８][6６][ -]?)?([1１][3-9３-９]{_D})[ -]?{_D}{{4}}[ -]?({_D}{{4}})(?!{_D})"
)
# Resident ID (GB 11643): 17 digits and a digit or X check character.
_ID = re.compile(rf"(?<!{_D}){_D}{{17}}[0-9\uff10-\uff19Xx\uff38\uff58](?!{_D})")
# Card and account numbers: 16-19 digits, possibly grouped by spaces or dashes.
_CARD = re.compile(rf"(?<!{_D}){_D}(?:[ -]?{_D}){{15,18}}(?!{_D})")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _digits(text: str) -> str:
    # Full-width digits map to ASCII so masks and check digits work on both.
    return "".join(str(int(c)) for c in text if c.isdigit())


def _check_char(c: str) -> str:
    return str(int(c)) if c.isdigit() else "X"


def _is_valid_id(candidate: str) -> bool:
    total = sum(int(d) * w for d, w in zip(_digits(candidate[:17]), _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == _check_char(candidate[17])


def _mask_phone(m: re.Match[str]) -> str:
    return f"{_digits(m.group(1))}****{_digits(m.group(2))}"


def _mask_id(m: re.Match[str]) -> str:
    text = m.group(0)
    if text[-1].isdigit() and not _is_valid_id(text):
        # 18 digits without a valid check digit: an account number, label it as one.
        return f"尾号{_digits(text)[-4:]}"
    return f"证件尾号{_digits(text[-4:-1])}{_check_char(text[-1])}"


def _mask_card(m: re.Match[str]) -> str:
    return f"尾号{_digits(m.group(0))[-4:]}"


def redact_numbers(text: str) -> str:
    """Mask ID, card/account and phone numbers in ``text``; keeps JSON string syntax intact."""
    # Longest patterns first, so an ID or card is never half-eaten by the phone pattern.
    text = _ID.sub(_mask_id, text)
    text = _CARD.sub(_mask_card, text)
    return _PHONE.sub(_mask_phone, text)


# A short message that is essentially six digits (or five and an X): an SMS code or the last six
# characters of an ID number typed for identity binding. Amounts come with words (元, 万, 存).
_SECRET_ANSWER = re.compile(
    rf"^\s*(?:验证码|校验码|身份证(?:号)?(?:码)?(?:后六位|后6位)?|后六位|后6位)?\s*[:：是为]?\s*"
    rf"({_D}{{5}}[0-9\uff10-\uff19Xx\uff38\uff58])\s*[。.!！]?\s*$"
)


def redact_customer_text(text: str) -> str:
    """What a stored transcript keeps of a customer's message: identifiers masked, and a bare
    six-character answer (SMS code, ID tail) replaced by ******."""
    if not text:
        return text
    found = _SECRET_ANSWER.match(text)
    if found:
        return text[: found.start(1)] + "******" + text[found.end(1) :]
    return redact_numbers(text)
