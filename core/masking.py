"""Masking of personal data for anything shown in chat, consoles or logs (PIPL; JR/T 0171).

Standard library only and Python 3.10 compatible: the Rasa process (its own venv) imports it too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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


# --- One digit normaliser in front of every number detector -----------------------------------
#
# Customers type numbers the way their input method offers them: full-width (１３９), grouped by
# spaces, dots, dashes or slashes (170.0015.0003, 139 1234 5678), or in Chinese (一三九, 幺 for 1,
# 两 for 2), sometimes mixed. Every detector below (phone, ID, card/account, SMS code) works on a
# *run*: digits of any of these scripts joined by at most three separator characters, read as
# ASCII digits. Only detected runs are replaced; everything else is left exactly as typed.

CHINESE_DIGITS = {
    "零": "0", "〇": "0", "一": "1", "幺": "1", "壹": "1", "二": "2", "两": "2", "兩": "2",
    "贰": "2", "三": "3", "叁": "3", "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6", "陆": "6",
    "七": "7", "柒": "7", "八": "8", "捌": "8", "九": "9", "玖": "9",
}  # fmt: skip
_CN = "".join(CHINESE_DIGITS)
_ANY_DIGIT = rf"[\d{_CN}]"  # \d on str patterns is every Unicode decimal digit (ASCII, full-width ...)
# Also what copy-paste and Chinese input methods put between groups: no-break and thin spaces,
# 。 for a dot typed in Chinese mode, tildes, and brackets around the first group ((170)0015-0003).
_SEPARATOR = (
    r"[ \t\u3000\u00a0\u2000-\u200a\u202f\u205f.\uff0e\u3002\uff61\-\uff0d\u2010-\u2015\u2212"
    r"~\uff5e\u301c/\uff0f\u00b7\u30fb_()\uff08\uff09]"
)
# Characters nobody sees (zero-width space/joiners, word joiner, soft hyphen, BOM, direction marks,
# variation selectors): a number with any of them between its digits looks whole on screen, so
# they never end a number and never count towards the three separators allowed between groups.
_INVISIBLE = (
    r"[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    r"\u2060-\u206f\ufe00-\ufe0f\ufeff]"
)
_GAP = rf"{_INVISIBLE}*(?:{_SEPARATOR}{_INVISIBLE}*){{0,3}}"
_CHECK = "[Xx\uff38\uff58]"
_RUN = re.compile(
    rf"(?:[+\uff0b]\s?)?{_ANY_DIGIT}(?:{_GAP}{_ANY_DIGIT})*"
    rf"(?:{_GAP}(?P<check>{_CHECK})(?![A-Za-z]))?"
)
_MAX_NUMBER = 21  # longest identifier looked for (+86 and a 19-digit card fit)


def digit_of(ch: str) -> str | None:
    """The ASCII digit ``ch`` stands for (１ → 1, 一/幺 → 1, 两 → 2), or None."""
    if ch.isdecimal():
        return str(int(ch))
    return CHINESE_DIGITS.get(ch)


def ascii_digits(text: str) -> str:
    """Every digit in ``text`` as ASCII, in order, everything else dropped: '一七零.0015' → '1700015'."""
    return "".join(d for d in map(digit_of, text or "") if d is not None)


def _script(ch: str) -> int:
    # A change of script (ASCII → Chinese → full-width) separates groups as a space would.
    if ch in CHINESE_DIGITS:
        return 2
    return 0 if ch.isascii() else 1


@dataclass(frozen=True)
class NumberGroup:
    start: int
    end: int
    digits: str


@dataclass(frozen=True)
class NumberRun:
    """Digits typed as one number: where it is in the text, its groups and its ASCII digits."""

    start: int
    end: int
    groups: tuple[NumberGroup, ...]
    check: str | None  # a trailing X (ID check character), already upper-case ASCII
    decimal: bool  # one '.' and nothing else between groups: an amount like 1733540000.25

    @property
    def digits(self) -> str:
        return "".join(g.digits for g in self.groups)


def _separator_kind(between: str) -> str:
    """'' (script change only), ' ', '.', '-', '/' or '_': what kind of separator a customer used."""
    kinds = {_KIND.get(c, " ") for c in between} - {" "}
    if kinds:
        return min(kinds)
    return " " if between else ""


_KIND = {".": ".", "\uff0e": ".", "\u3002": ".", "\uff61": ".", "\u00b7": ".", "\u30fb": ".", "/": "/", "\uff0f": "/",
         "_": "_"}
_KIND.update({c: "-" for c in "-\uff0d\u2010\u2011\u2012\u2013\u2014\u2015\u2212~\uff5e\u301c"})


def number_runs(text: str) -> list[NumberRun]:
    """The numbers in ``text`` as the detectors see them (see the comment above).

    A number is typed with one kind of separator (139 1234 5678, 170.0015.0003); where the kind
    changes a new number starts, so '10.0.0.1 192.168.1.2' stays two numbers.
    """
    return [run for _whole, pieces in _scan(text) for run in pieces]


def _scan(text: str) -> list[tuple[NumberRun, list[NumberRun]]]:
    """Each stretch of digits and separators: as a whole, and split where the separator kind changes."""
    found: list[tuple[NumberRun, list[NumberRun]]] = []
    for m in _RUN.finditer(text):
        stop = m.end("check") if m.group("check") else m.end()
        groups: list[NumberGroup] = []
        between: list[str] = []  # separator text before each group after the first
        pending = ""
        for i in range(m.start(), stop):
            d = digit_of(text[i])
            if d is None:
                pending += text[i] if groups else ""
                continue
            if groups and groups[-1].end == i and _script(text[i]) == _script(text[i - 1]):
                last = groups[-1]
                groups[-1] = NumberGroup(last.start, i + 1, last.digits + d)
            else:
                if groups:
                    between.append(pending)
                groups.append(NumberGroup(i, i + 1, d))
            pending = ""
        check_end = stop if m.group("check") is not None else None
        lead = m.start() if text[m.start()] in "+\uff0b" else groups[0].start
        all_digits = "".join(g.digits for g in groups)
        whole_check = "X" if check_end is not None and len(all_digits) in (5, 17) else None
        whole = NumberRun(
            lead, check_end if whole_check and check_end else groups[-1].end, tuple(groups), whole_check, False
        )
        found.append((whole, _split_by_separator(groups, between, lead, check_end)))
    return found


def _split_by_separator(
    groups: list[NumberGroup], between: list[str], lead: int, check_end: int | None
) -> list[NumberRun]:
    pieces: list[list[int]] = [[0]]
    seps: list[list[str]] = [[]]
    kind = ""
    for k, sep in enumerate(between, start=1):
        this = _separator_kind(sep)
        after_country_code = k == 1 and groups[0].digits == "86"
        if this and kind and this != kind and not after_country_code:
            pieces.append([k])
            seps.append([])
            kind = ""  # the next separator tells how the new number is written
            continue
        if this and not kind and not after_country_code:
            kind = this
        pieces[-1].append(k)
        seps[-1].append(sep)
    runs: list[NumberRun] = []
    for n, (idx, piece_seps) in enumerate(zip(pieces, seps, strict=True)):
        gs = tuple(groups[k] for k in idx)
        digits = "".join(g.digits for g in gs)
        is_last = n == len(pieces) - 1
        check = "X" if is_last and check_end is not None and len(digits) in (5, 17) else None
        start = lead if n == 0 else gs[0].start
        end = check_end if check and check_end is not None else gs[-1].end
        decimal = len(gs) == 2 and piece_seps[0] in (".", "\uff0e") and check is None
        runs.append(NumberRun(start, end, gs, check, decimal))
    return runs


_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _id_check_ok(first17: str, check: str) -> bool:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == check


def _identifier_mask(digits: str, check: str | None, landline: bool = True, listing: bool = False) -> str | None:
    """The mask for a phone, ID or card/account number, or None if ``digits`` is none of them.

    ``landline`` False: a landline number is no identifier here (the bank's own, published numbers).
    ``listing``: groups joined by dots or slashes; then 15 to 19 digits starting with 0 are a list
    (0571。0571。0571。500), no card: cards and ID numbers never start with 0."""
    n = len(digits)
    if check:
        return f"证件尾号{digits[-3:]}X" if n == 17 else None
    if n == 11 and digits[0] == "1" and digits[1] in "3456789":
        return f"{digits[:3]}****{digits[-4:]}"
    if n == 13 and digits.startswith("861") and digits[3] in "3456789":
        return f"{digits[2:5]}****{digits[-4:]}"
    if n == 15 and digits.startswith("00861") and digits[5] in "3456789":
        return f"{digits[4:7]}****{digits[-4:]}"
    if landline and _is_landline(digits):
        return landline_mask(digits)
    if n == 18 and _id_check_ok(digits[:17], digits[17]):
        return f"证件尾号{digits[-4:]}"
    if 15 <= n <= 19 and not (listing and digits[0] == "0"):
        # 18 digits without a valid check digit are an account number; 15 digits an old ID card.
        return f"尾号{digits[-4:]}"
    return None


def _is_landline(digits: str) -> bool:
    """Area code and local number, typed as one: 010/02x + 8 digits, 0xxx + 7 or 8 digits."""
    if len(digits) < 10 or len(digits) > 12 or digits[0] != "0" or digits[1] == "0":
        return False
    area = 3 if digits[1] in "12" else 4
    local = digits[area:]
    return len(local) in ((8,) if area == 3 else (7, 8)) and local[0] in "23456789"


def landline_mask(digits: str) -> str:
    """0371-63456789 → 0371-****6789 (area code and the last four digits of the local number)."""
    area = 3 if digits[1] in "12" else 4
    return f"{digits[:area]}-****{digits[-4:]}"


# A number the bank publishes (a branch, the hotline) right after these words is no customer's.
_PUBLIC_CONTEXT = re.compile(
    r"(?:支行|分行|总行|网点|分理处|营业厅|营业部|储蓄所|信用社|银行|客服|热线|柜台)[^\d，。,;；!！?？]{0,4}$"
)
# Words before a number that is a landline's local part typed alone (家里座机 6345 6789).
_LANDLINE_CONTEXT = re.compile(
    r"(?:座机|固话|固定电话|电话|号码|家里|单位|办公室)(?:号码?|是|为|[\s:：])*$"
)


# Words right before a six-character secret: an SMS code or the last six of an ID number.
_SECRET_CONTEXT = re.compile(
    r"(?:验证码|校验码|动态码|动态密码|短信码|确认码|(?:身份证|证件)[号码]{0,2}(?:的)?"
    r"(?:后六位|后6位|后６位|末六位|末6位|最后六位|最后6位)?|后六位|后6位|后６位|末六位|末6位|最后六位|最后6位)"
    r"[\s:：是为]{0,4}$"
)
SECRET_MASK = "******"  # noqa: S105 - the mask itself, not a password
# Words right before a code of 4 to 8 digits: 码是493433, 动态口令 8812, CODE:370273, 激活码.
_CODE_CONTEXT = re.compile(
    # 验证码好像是 7 2 8 3 0 1, 收到个验证码，四位的：3856: a few words may come between, but no
    # money words (验证码收不到，我取了5000) and no end of sentence.
    r"(?<!取件)(?<!取餐)(?:码|口令|密码|(?i:code|otp|pin))(?:[^\d\n。！？!?；;元块万取存转汇借还付交扣余额*]{0,6}?)"
    r"[\s:：是为]{0,4}$"
)
# Words before a six-digit code that names no code: 短信发来的数字是 728301.
_SMS_CONTEXT = re.compile(r"短信[^\d\n。！？!?；;元块万取存转汇借还付交扣余额*]{0,8}$")
# Words right after a six-digit code: 493433是验证码, 493433这个码要填哪, 刚收到493433，是验证码吧.
_CODE_AFTER = re.compile(r"^[^\d\n]{0,6}?(?:是|这个|那个|这|的)(?:验证|动态|校验|短信|激活)?码")

NO_SECRET, SIX, CODE = 0, 1, 2  # what the words around a number say it may be


def _is_secret_shape(digits: str, check: str | None, context: int = SIX) -> bool:
    if context == CODE and check is None and 4 <= len(digits) <= 8:
        return True
    return len(digits) == 6 and check is None or len(digits) == 5 and check == "X"


def _mask_run(text: str, run: NumberRun, out: list[tuple[int, int, str]], public: bool = False) -> None:
    if len(run.digits) > 19:  # longer than any card: one account number, not a card and some digits
        long_mask = _long_number_mask(text, run)
        if long_mask is not None:
            out.append((run.start, run.end, long_mask))
            return
    before = len(out)
    _mask_identifiers(text, run, out, public)
    if len(out) == before:
        long_mask = _long_number_mask(text, run)
        if long_mask is not None:
            out.append((run.start, run.end, long_mask))


def _mask_identifiers(text: str, run: NumberRun, out: list[tuple[int, int, str]], public: bool) -> None:
    secret_context = _secret_context(text, run.start, run.end)
    landline = not public
    listing = _dotted(text, run)
    # 1733540000.25 is an amount, not one long number; but after 验证码 even 4.93433 is a code.
    whole = None if run.decimal else _identifier_mask(run.digits, run.check, landline, listing)
    if whole is None and secret_context and _is_secret_shape(run.digits, run.check, secret_context):
        whole = SECRET_MASK
    if whole is not None:
        out.append((run.start, run.end, whole))
        return
    # Two numbers typed side by side ("13912345678 500元"): look for identifiers made of whole groups.
    groups = run.groups
    i = 0
    while i < len(groups):
        found = None
        for j in range(i, len(groups)):
            digits = "".join(g.digits for g in groups[i : j + 1])
            if len(digits) > _MAX_NUMBER:
                break
            last = j == len(groups) - 1
            check = run.check if last else None
            if run.decimal and j > i:
                break  # 1733540000.25 is an amount, not one long number
            mask = _identifier_mask(digits, check, landline, listing)
            if mask is None and i == 0 and secret_context and _is_secret_shape(digits, check, secret_context):
                mask = SECRET_MASK
            if mask is not None:
                found = (j, mask)
        if found is None:
            i += 1
            continue
        j, mask = found
        start = run.start if i == 0 else groups[i].start
        end = run.end if j == len(groups) - 1 else groups[j].end
        out.append((start, end, mask))
        i = j + 1


def _replace(text: str, spans: list[tuple[int, int, str]]) -> str:
    parts: list[str] = []
    pos = 0
    for start, end, mask in spans:
        parts.append(text[pos:start])
        parts.append(mask)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def redact_numbers(text: str) -> str:
    """Mask phone, ID and card/account numbers in ``text``, and six-character codes or ID tails
    right after 验证码 / 身份证后六位 and the like. Keeps JSON string syntax intact (masks bring
    only digits, '*' and CJK) and is idempotent."""
    if not text:
        return text
    spans = _mask_spans(text)
    return _replace(text, spans) if spans else text


def masked_spans(text: str) -> list[tuple[int, int]]:
    """Where :func:`redact_numbers` replaces something in ``text`` (start, end), in order.

    For data that points into the text: an entity Rasa found inside a masked number must not
    keep the digits the text no longer shows."""
    return [(start, end) for start, end, _mask in _mask_spans(text)] if text else []


def _mask_spans(text: str) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    scanned = _scan(text)
    for whole, pieces in scanned:
        public = _PUBLIC_CONTEXT.search(text[max(0, whole.start - 12) : whole.start]) is not None
        if len(whole.groups) == 1 and len(whole.groups[0].digits) < 5:
            # Short numbers (amounts, dates, times) are never identifiers; 4 digits after 验证码 are a code.
            if len(whole.digits) == 4 and _secret_context(text, whole.start) == CODE:
                spans.append((whole.start, whole.end, SECRET_MASK))
            continue
        if len(pieces) > 1:
            # Separators of several kinds ("139 1234.5678"): still one number if it has the
            # structure of a mobile number, an ID number or a code right after 验证码.
            mask = _structured_mask(text, whole, public)
            if mask is not None:
                spans.append((whole.start, whole.end, mask))
                continue
        before = len(spans)
        for run in pieces:
            _mask_run(text, run, spans, public)
        if len(spans) == before and not public:
            _mask_local_landline(text, whole, spans)
    spans.extend(_split_numbers(text, [whole for whole, _pieces in scanned], spans))
    spans.sort()
    return spans


def _dotted(text: str, run: NumberRun) -> bool:
    """Groups joined by dots or slashes (a list, a date, a version), not spaces or dashes."""
    return any(
        _separator_kind(text[a.end : b.start]) in (".", "/") for a, b in zip(run.groups, run.groups[1:], strict=False)
    )


def _date_like(digits: str) -> bool:
    """20261207, 202612071030: a date, perhaps with a time, typed without separators."""
    if len(digits) < 8 or digits[:2] not in ("19", "20"):
        return False
    month, day = int(digits[4:6]), int(digits[6:8])
    return 1 <= month <= 12 and 1 <= day <= 31 and len(digits) in (8, 10, 12, 14)


def _next_to_letter(text: str, start: int, end: int) -> bool:
    """GS20261207123456, 550e8400…: digits inside a reference code or a hexadecimal id."""
    return (start > 0 and text[start - 1].isascii() and text[start - 1].isalpha()) or (
        end < len(text) and text[end].isascii() and text[end].isalpha()
    )


_ACCOUNT_CONTEXT = re.compile(
    r"(?:账号|账户|帐号|帐户|存折|折号|卡号|收款|汇款|转账|转到|打到|对方|对公)[^\d，。]{0,6}$"
)


def _long_number_mask(text: str, run: NumberRun) -> str | None:
    """尾号1234 for a run of 12 or more digits that nothing else took: an account number (12 to 14
    digits for a passbook or a company account, 20 and more for some banks' accounts). Dates typed
    without separators, amounts with decimals and reference codes (letters next to them) stay."""
    digits = run.digits
    if len(digits) < 12 or run.decimal or _next_to_letter(text, run.start, run.end):
        return None
    context = _ACCOUNT_CONTEXT.search(text[max(0, run.start - 12) : run.start]) is not None
    if _date_like(digits) and not context:
        return None  # 202612071030; but 账号201507123456 is an account number
    if _is_landline(digits):
        return None  # a landline the bank publishes (the caller saw the words before it)
    grouped_by_four = all(len(g.digits) == 4 for g in run.groups[:-1])
    if _dotted(text, run):
        grouped_by_four = False  # 0571。0571。2024: numbers in a list, dates, versions
    if len(run.groups) > 1 and not grouped_by_four and not context:
        return None  # "200 300 400 500": several numbers side by side
    return f"尾号{digits[-4:]}"


def _mask_local_landline(text: str, run: NumberRun, out: list[tuple[int, int, str]]) -> None:
    """A landline's local number typed alone after 座机 / 家里电话 / 号码: 6345 6789 → ****6789."""
    digits = run.digits
    if len(digits) not in (7, 8) or digits[0] not in "23456789" or run.check or _date_like(digits):
        return
    if _next_to_letter(text, run.start, run.end):
        return
    if _LANDLINE_CONTEXT.search(text[max(0, run.start - 10) : run.start]):
        out.append((run.start, run.end, f"****{digits[-4:]}"))


# Between the parts of one number split over words ("我电话138 就是1234 5678", "前面是623009，后面…").
_SPLIT_GAP = re.compile(r"[^\d\n。！？!?；;]{1,8}")
_MOBILE_SPLITS = ((3, 4, 4), (3, 8), (7, 4))


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        v = int(ch) * (2 if i % 2 else 1)
        total += v - 9 if v > 9 else v
    return total % 10 == 0


def _split_numbers(
    text: str, runs: list[NumberRun], taken: list[tuple[int, int, str]]
) -> list[tuple[int, int, str]]:
    """Masks for a mobile or card number whose parts are separate numbers, words between them."""
    free = [r for r in runs if not any(s < r.end and r.start < e for s, e, _m in taken)]
    out: list[tuple[int, int, str]] = []
    i = 0
    while i < len(free):
        found: list[tuple[int, int, str]] | None = None
        for k in (3, 2, 4):
            parts = free[i : i + k]
            if len(parts) < k or any(
                not _SPLIT_GAP.fullmatch(text[a.end : b.start]) for a, b in zip(parts, parts[1:], strict=False)
            ):
                continue
            lengths = tuple(len(p.digits) for p in parts)
            digits = "".join(p.digits for p in parts)
            if lengths in _MOBILE_SPLITS and digits[0] == "1" and digits[1] in "3456789":
                found = _mask_split(parts, keep_head=3, keep_tail=4)
            elif 16 <= len(digits) <= 19 and min(lengths) >= 3 and digits[:2] == "62" and _luhn_ok(digits):
                found = _mask_split(parts, keep_head=0, keep_tail=4)
            if found:
                break
        if found:
            out.extend(found)
            i += len(found)
        else:
            i += 1
    return out


def _mask_split(parts: list[NumberRun], keep_head: int, keep_tail: int) -> list[tuple[int, int, str]]:
    """Each part masked: the first ``keep_head`` and last ``keep_tail`` digits of the whole stay."""
    total = sum(len(p.digits) for p in parts)
    out = []
    pos = 0
    for p in parts:
        shown = "".join(
            d if pos + k < keep_head or pos + k >= total - keep_tail else "*" for k, d in enumerate(p.digits)
        )
        out.append((p.start, p.end, shown))
        pos += len(p.digits)
    return out


def _structured_mask(text: str, run: NumberRun, public: bool = False) -> str | None:
    digits = run.digits
    if len(digits) in (11, 13) or (len(digits) == 17 and run.check):
        return _identifier_mask(digits, run.check, not public)
    if len(digits) == 18 and _id_check_ok(digits[:17], digits[17]):
        return _identifier_mask(digits, None)
    if not public and _is_landline(digits):
        return landline_mask(digits)
    context = _secret_context(text, run.start, run.end)
    if context and _is_secret_shape(digits, run.check, context):
        return SECRET_MASK
    return None


def _secret_context(text: str, start: int, end: int | None = None) -> int:
    """CODE after words announcing a code (any 4 to 8 digits), SIX after an ID tail's words or
    before 是验证码 (six characters only), else NO_SECRET."""
    before = text[max(0, start - 16) : start]
    if _CODE_CONTEXT.search(before) and not before.rstrip(" \t:：是为").endswith("号码"):
        return CODE
    if _SECRET_CONTEXT.search(before) or _SMS_CONTEXT.search(before):
        return SIX
    if end is not None and _CODE_AFTER.match(text[end : end + 12]):
        return SIX
    return NO_SECRET


def mobile_numbers(text: str) -> list[str]:
    """The mainland mobile numbers in ``text`` as 11 ASCII digits, in any format masking knows."""
    found: list[str] = []
    for run in number_runs(text):
        digits = run.digits[2:] if len(run.digits) == 13 and run.digits.startswith("86") else run.digits
        if len(digits) == 11 and digits[0] == "1" and digits[1] in "3456789":
            found.append(digits)
    return found


_DATE_SHAPE = re.compile(r"(?:19|20)\d\d[./\-\uff0e\u3002]\d{1,2}[./\-\uff0e\u3002]\d{1,2}")
_TRIM = " \t\u3000。.!！?？"


def redact_customer_text(text: str) -> str:
    """What a stored transcript keeps of a customer's message: identifiers masked, and a message
    that is essentially one six-character answer (SMS code, ID tail, even typed 493 433 or in
    Chinese) replaced by ******. Amounts come with words (元, 万, 存) and are kept.

    The one masking of what a customer typed: stored messages, the RM console, insights, surveys
    and Rasa's tracker store (``rasa_ext.redaction``) all call it; the logs add balances on top."""
    if not text:
        return text
    spans = _customer_spans(text)
    return _replace(text, spans) if spans else text


def customer_masked_spans(text: str) -> list[tuple[int, int]]:
    """Where :func:`redact_customer_text` replaces something in ``text`` (start, end), in order."""
    return [(start, end) for start, end, _mask in _customer_spans(text)] if text else []


def _customer_spans(text: str) -> list[tuple[int, int, str]]:
    core_start = len(text) - len(text.lstrip(_TRIM))
    core_end = len(text.rstrip(_TRIM))
    scanned = _scan(text)
    if len(scanned) == 1 and scanned[0][0].start == core_start and scanned[0][0].end == core_end:
        run = scanned[0][0]
        typed = "".join(digit_of(c) or c for c in text[run.start : run.end])
        if _is_secret_shape(run.digits, run.check) and not _DATE_SHAPE.fullmatch(typed):
            return [(run.start, run.end, SECRET_MASK)]
    return _mask_spans(text)
