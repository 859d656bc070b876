"""Customer wording read by the actions: common typos and homophones, amounts and deposit terms.

The NLU model carries typos through its character n-grams and training examples; the actions
still read a few words from the raw text (种地, 稳当, 一万, 三年, 上午), so they read it through
the same small normaliser (#20).
"""

from __future__ import annotations

import re
from decimal import Decimal

# Homophones and slips customers type, mapped to the intended word (longest first when applied).
TYPOS: dict[str, str] = {
    "代款": "贷款",
    "待款": "贷款",
    "带款": "贷款",
    "于额": "余额",
    "鱼额": "余额",
    "挂是": "挂失",
    "挂适": "挂失",
    "木有": "没有",
    "没得": "没有",
    "死其": "定期",
    "帝期": "定期",
    "活其": "活期",
    "利习": "利息",
    "力息": "利息",
    "理材": "理财",
}

DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "俩": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
          "八": 8, "九": 9, "十": 10, "半": 0.5}
UNITS = {"万": 10000, "w": 10000, "W": 10000, "千": 1000, "仟": 1000, "k": 1000, "K": 1000, "百": 100, "佰": 100,
         "块": 1, "元": 1}


def normalise(text: str | None) -> str:
    out = (text or "").strip()
    for wrong in sorted(TYPOS, key=len, reverse=True):
        out = out.replace(wrong, TYPOS[wrong])
    return out


def _number(word: str) -> Decimal | None:
    """'5' / '1.5' / '五' / '十' / '十五' / '二十' → a number (small Chinese numbers only)."""
    if re.fullmatch(r"\d+(\.\d+)?", word):
        return Decimal(word)
    if not word or any(ch not in DIGITS for ch in word):
        return None
    if "十" in word:
        tens, _, ones = word.partition("十")
        return Decimal(DIGITS[tens] if tens else 1) * 10 + Decimal(DIGITS[ones] if ones else 0)
    if len(word) == 1:
        return Decimal(str(DIGITS[word]))
    return None


AMOUNT = re.compile(
    r"(\d+(?:\.\d+)?|[零〇一二两俩三四五六七八九十]+)\s*(万|[wW](?![a-zA-Z])|千|仟|[kK](?![a-zA-Z])|百|佰)?\s*(块|元)?"
)  # 5w / 5W / 3k: how people type 5万 and 3千


def amount_in(text: str | None) -> Decimal | None:
    """The money amount in a sentence ("存一万", "5万存三年", "3000块"), ignoring terms like 三年."""
    said = re.sub(r"(?<=[十百千\d])(?:来|多)(?=[万千百块元])", "", normalise(text))  # 十来万 → 十万
    for match in AMOUNT.finditer(said):
        number, unit, currency = match.groups()
        after = said[match.end():match.end() + 2]
        if not unit and not currency and (after[:1] in "年个月期天号日点" or len(number) < 3):
            continue  # 三年, 六个月, 5号, or a lone small number: not money
        value = _number(number)
        if value is None or value <= 0:
            continue
        return value * UNITS.get(unit or "", 1)
    return None


TERM = re.compile(r"(\d+|[一二两三四五六半])\s*(年|个月)")


def term_months_in(text: str | None) -> int | None:
    """The deposit term asked about: 一年 → 12, 半年 → 6, 三个月 → 3, 5年 → 60."""
    normal = normalise(text)
    if "半年" in normal:
        return 6
    match = TERM.search(normal)
    if match is None:
        return None
    value = _number(match.group(1))
    if value is None:
        return None
    months = value * 12 if match.group(2) == "年" else value
    return int(months)


def term_months_all(text: str | None) -> list[int]:
    """Every deposit term named, in order and once each: "存一年和存三年哪个划算" → [12, 36]."""
    normal = normalise(text)
    found: list[tuple[int, int]] = [(m.start(), 6) for m in re.finditer("半年", normal)]
    for match in TERM.finditer(normal):
        value = _number(match.group(1))
        if value is not None:
            found.append((match.start(), int(value * 12 if match.group(2) == "年" else value)))
    months: list[int] = []
    for _, term in sorted(found):
        if term not in months:
            months.append(term)
    return months


def visit_period(text: str | None) -> str | None:
    """When in the day the customer wants to come: 上午 / 下午, or the hour ("9点" → "9")."""
    normal = normalise(text)
    hour = re.search(r"(\d{1,2}|[一二三四五六七八九十]+)\s*点", normal)
    if hour:
        value = _number(hour.group(1))
        if value is not None:
            number = int(value)
            if ("下午" in normal or "晚" in normal) and number < 12:
                number += 12
            return str(number)
    if any(word in normal for word in ("上午", "早上", "早晨", "一早")):
        return "上午"
    if any(word in normal for word in ("下午", "中午", "午后")):
        return "下午"
    return None


def mentions(text: str | None, *words: str) -> bool:
    normal = normalise(text)
    return any(word in normal for word in words)
