"""Chinese time expressions → concrete dates (Asia/Shanghai calendar days).

Customers say 上个月, 最近三天, 今年, 上周, 3月5号, 下周一, 十五号, 二〇二四年三月五号, 3月1日到3月15日,
上半年, 一季度, 前两天, 过两天, 国庆那几天 ... The NLU marks the phrase (entities ``time_range`` /
``date``); this module turns it into dates relative to "today" in the bank's time zone. Pure
functions, checked against a golden set (``tests/crm/timeparse_golden.tsv``).

Order of reading a range: an explicit span (A到B), a statutory holiday, a named year (2024年, 去年)
with its half, quarter or month, a half/quarter of this year, then relative phrases (最近N天, 上个月),
then a single day. Anything unreadable is the default: the last 7 days.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal
from zoneinfo import ZoneInfo

from core.chinese import to_simplified

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_DAYS = 7
MAX_RANGE_DAYS = 366 * 3  # statements older than this are a branch matter

_DIGIT = {
    "零": 0,
    "〇": 0,
    "○": 0,
    "一": 1,
    "幺": 1,
    "二": 2,
    "两": 2,
    "俩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_WEEKDAY = {"一": 0, "1": 0, "二": 1, "2": 1, "三": 2, "3": 2, "四": 3, "4": 3, "五": 4, "5": 4}
_WEEKDAY.update({"六": 5, "6": 5, "日": 6, "天": 6, "7": 6, "末": 5})
_NUM = r"[0-9零〇一二两俩三四五六七八九十百廿卅]+"
_FULLWIDTH = str.maketrans("０１２３４５６７８９－～／．", "0123456789-~/.")

# Statutory holidays as customers name them → chinesecalendar's holiday names.
_HOLIDAYS = {
    "元旦": "New Year's Day",
    "春节": "Spring Festival",
    "过年": "Spring Festival",
    "清明": "Tomb-sweeping Day",
    "五一": "Labour Day",
    "劳动节": "Labour Day",
    "端午": "Dragon Boat Festival",
    "中秋": "Mid-autumn Festival",
    "国庆": "National Day",
    "十一长假": "National Day",
}


@dataclass(frozen=True)
class DateRange:
    """Inclusive range of calendar days with a human label (e.g. 2024年3月1日至3月31日)."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def label(self) -> str:
        if self.start == self.end:
            return f"{self.start.year}年{self.start.month}月{self.start.day}日"
        return (
            f"{self.start.year}年{self.start.month}月{self.start.day}日至"
            f"{self.end.year}年{self.end.month}月{self.end.day}日"
        )

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """[start 00:00, day after end 00:00) in Shanghai time, as UTC datetimes."""
        lo = dt.datetime.combine(self.start, dt.time(), SHANGHAI).astimezone(dt.UTC)
        hi = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time(), SHANGHAI).astimezone(dt.UTC)
        return lo, hi


def today_in_shanghai(now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.UTC)).astimezone(SHANGHAI).date()


def cn_number(text: str) -> int | None:
    """'15' → 15, '十五' → 15, '二十三' → 23, '两' → 2, '一百' → 100; None if not a number."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for ch in text:
        if ch in _DIGIT:
            current = _DIGIT[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        elif ch in "廿卅":  # 廿五 = 25, 卅 = 30: how dates are still written
            total += 20 if ch == "廿" else 30
            current = 0
        elif ch.isdigit():
            current = current * 10 + int(ch)
        else:
            return None
    return total + current


# Spoken and dialect names of days, and the slips of pinyin input, as the readers below know them.
_SPOKEN = (
    (r"名天|明个|明儿个|明早|明晚", "明天"),
    (r"厚天|后儿个|后个(?!月)", "后天"),
    (r"今早|今晚|今儿个", "今天"),
    (r"前儿个", "前天"),
    (r"夜儿个|夜个|夜来|昨晚|昨兲|夜里个", "昨天"),
    (r"里拜|礼版", "礼拜"),
    (r"(?<=[上下这本])各(?=月)", "个"),
    (r"个越", "个月"),
    (r"前半年", "上半年"),
    (r"后半年", "下半年"),
)


def normalise(text: str | None) -> str:
    """Full-width digits to ASCII, whitespace removed, traditional characters simplified (上個月, 下週三),
    spoken day names (明儿个, 夜个, 明早) and pinyin slips (名天, 厚天) read, years spelt digit by digit
    (二〇二四年 → 2024年), and 2026.10 / 12.20 read as a month and a day of the month."""
    p = to_simplified(re.sub(r"\s+", "", (text or "").translate(_FULLWIDTH)))
    for spoken, written in _SPOKEN:
        p = re.sub(spoken, written, p)
    p = re.sub(r"(?<![0-9.])(\d{4})[./-](\d{1,2})(?![0-9./-])", r"\1年\2月", p)  # 2026.10 → 2026年10月
    p = re.sub(  # 12.20, 12/20, 12-20 → 12月20日 (not 1-3月, 3.5万)
        r"(?<![0-9./-])(1[0-2]|0?[1-9])[./-](3[01]|[12][0-9]|0?[1-9])(?![0-9./月号日天个万元块%])", r"\1月\2日", p
    )

    def year(m: re.Match[str]) -> str:
        return "".join(str(_DIGIT.get(ch, ch)) for ch in m.group(1)) + "年"

    p = re.sub(r"([零〇○一二三四五六七八九]{4})年", year, p)
    # 24年3月 → 2024年3月 (two-digit years mean this century)
    return re.sub(r"(?<![0-9])([0-9]{2})年(?=[0-9零一二三四五六七八九十]+月|份|的|上|下|全|一|第|$)", r"20\1年", p)


def _month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _week_start(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def _clip(start: dt.date, end: dt.date, today: dt.date) -> DateRange:
    end = min(end, today)
    start = max(min(start, end), end - dt.timedelta(days=MAX_RANGE_DAYS))
    return DateRange(start, end)


def parse_range(text: str | None, today: dt.date) -> DateRange:
    """Turn a past-time phrase into an inclusive date range ending no later than ``today``.

    Unknown or empty phrases give the default: the last 7 days including today.
    """
    phrase = normalise(text)
    default = DateRange(today - dt.timedelta(days=DEFAULT_DAYS - 1), today)
    if not phrase:
        return default
    found = _parse_range(phrase, today)
    if found is None:
        single = parse_date(phrase, today, prefer_future=False)
        if single is not None and single <= today:
            return DateRange(single, single)
        return default
    if found[0] > today:  # wholly in the future: not a statement period
        return default
    return _clip(found[0], found[1], today)


def _parse_range(p: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    for reader in (
        _union,
        _span,
        _holiday,
        _since,
        _named_year,
        _half_or_quarter,
        _relative,
        _month_parts,
        _month_alone,
    ):
        found = reader(p, today)
        if found is not None:
            return found
    return None


def _union(p: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """上个月和这个月: both periods, as one range from the first start to the last end."""
    parts = re.split(r"和|跟|以及|还有", p)
    if len(parts) != 2 or not all(parts):
        return None
    found = [_parse_range(part, today) for part in parts]
    if found[0] is None or found[1] is None:
        return None
    return min(found[0][0], found[1][0]), max(found[0][1], found[1][1])


def _since(p: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """10月1号以来, 3月份以后: from that day (or month) to today."""
    m = re.fullmatch(r"从?(.+?)(以来|至今|以后|之后|到目前)(的.*)?", p)
    if not m:
        return None
    start = parse_date(m.group(1), today, prefer_future=False)
    if start is None:
        month = _month_of(m.group(1), today)
        start = month[0] if month else None
    return (start, today) if start is not None else None


def _span(p: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """A到B, 从A至B, A-B: both ends as days; the right end inherits year and month from the left."""
    body = re.sub(r"^从", "", p)
    words = re.split(r"到|至|~|～|—", body, maxsplit=1)
    if len(words) == 2:
        parts = words
    elif not re.search(r"\d{4}-\d{1,2}-\d{1,2}", body):
        parts = body.split("-", 1)
    else:
        return None
    if len(parts) != 2 or not parts[0] or not parts[1]:
        return None
    left_text = parts[0]
    right_text = re.sub(r"(为止|之间|的|期间|这段时间|这段).*$", "", parts[1])
    named = _year_named(left_text, today)
    if named is not None and not re.search(r"\d{4}年", left_text):  # 今年1月到3月
        left_text = re.sub(r"大前年|前年|去年|上一?年|今年|本年", f"{named}年", left_text, count=1)
    if re.fullmatch(_NUM, left_text):  # 1到3月, 10到20号: the left end takes the right one's unit
        unit = re.search(r"(月份?|[号日])$", right_text)
        if unit is None:
            return None
        left_text += unit.group(1)
    left = parse_date(left_text, today, prefer_future=False)
    if left is None:
        month = _month_of(left_text, today)
        if month is None:
            return None
        left = month[0]
    if right_text in ("现在", "今天", "目前", "今日", "当前", "如今", "至今"):
        return left, today
    if right_text in ("月底", "月末"):  # 上个月15号到月底
        return left, _month_end(left.year, left.month)
    right = parse_date(right_text, today, prefer_future=False)
    m = re.fullmatch(r"(" + _NUM + r")[号日]?", right_text)
    if m and not re.search(r"月", right_text):
        right = _safe_date(left.year, left.month, cn_number(m.group(1)) or 0)
    m = re.fullmatch(r"(" + _NUM + r")月(" + _NUM + r")[号日]?", right_text)
    if m:
        right = _safe_date(left.year, cn_number(m.group(1)) or 0, cn_number(m.group(2)) or 0)
    if right is None:
        month = _month_of(right_text, today, year_hint=left.year)
        if month is None:
            return None
        right = month[1]
    if right < left:
        return None
    return left, right


def _month_of(text: str, today: dt.date, year_hint: int | None = None) -> tuple[dt.date, dt.date] | None:
    m = re.fullmatch(r"(?:(\d{4})年)?(" + _NUM + r")月份?", text)
    if not m:
        return None
    month = cn_number(m.group(2))
    if not month or not 1 <= month <= 12:
        return None
    if m.group(1):
        year = int(m.group(1))
    elif year_hint is not None:
        year = year_hint
    else:
        year = today.year if month <= today.month else today.year - 1
    return dt.date(year, month, 1), _month_end(year, month)


def _safe_date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _year_named(p: str, today: dt.date) -> int | None:
    m = re.search(r"(\d{4})年", p)
    if m:
        return int(m.group(1))
    for word, back in (("大前年", 3), ("前年", 2), ("去年", 1), ("上一年", 1), ("上年", 1), ("今年", 0), ("本年", 0)):
        if word in p:
            return today.year - back
    return None


def _holiday(p: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    name = next((en for zh, en in _HOLIDAYS.items() if zh in p), None)
    if name is None:
        return None
    year = _year_named(p, today)
    years = [year] if year is not None else [today.year, today.year - 1]
    after = re.search(r"(节|假期?)?(以后|之后|过后|后)(?!第)", p)  # 国庆以后: from the first day back to today
    for y in years:
        days = holiday_days(y, name)
        if days and (year is not None or days[0] <= today):
            if after:
                return days[-1] + dt.timedelta(days=1), today
            return days[0], days[-1]
    return None


def holiday_days(year: int, name: str) -> list[dt.date]:
    """The statutory rest days of holiday ``name`` (chinesecalendar's English name) in ``year``.

    Taken from chinesecalendar itself, so 调休 and each year's arrangement are the State Council's;
    empty for years the library does not know yet.
    """
    import chinese_calendar  # imported here: only holiday phrases need it

    try:
        holidays = chinese_calendar.get_holidays(dt.date(year, 1, 1), dt.date(year, 12, 31), include_weekends=False)
    except NotImplementedError:
        return []
    named = [d for d in holidays if chinese_calendar.get_holiday_detail(d)[1] == name]
    if not named:
        return []
    # The holiday's own run of rest days (a weekend glued to it counts, as people count it).
    start, end = named[0], named[-1]
    while not chinese_calendar.is_workday(start - dt.timedelta(days=1)) and (named[0] - start).days < 3:
        start -= dt.timedelta(days=1)
    while not chinese_calendar.is_workday(end + dt.timedelta(days=1)) and (end - named[-1]).days < 3:
        end += dt.timedelta(days=1)
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


_QUARTER = r"(?:第)?([一二三四1-4])(?:季度|季)"


def _named_year(p: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    year = _year_named(p, today)
    if year is None:
        return None
    rest = p
    if year == today.year and re.search(r"(今年|本年)(以来|到现在|至今)|年初(到|至)(现在|今)", p):
        return dt.date(year, 1, 1), today
    season = _season(rest, year)
    if season is not None:
        return season
    if "上半年" in rest:
        return dt.date(year, 1, 1), dt.date(year, 6, 30)
    if "下半年" in rest:
        return dt.date(year, 7, 1), dt.date(year, 12, 31)
    m = re.search(_QUARTER, rest)
    if m:
        q = int(m.group(1)) if m.group(1).isdigit() else "一二三四".index(m.group(1)) + 1
        first = dt.date(year, 3 * q - 2, 1)
        return first, _month_end(year, 3 * q)
    m = re.search(r"年(" + _NUM + r")月份?(?!" + _NUM + r"[号日])", rest)
    if m and not re.search(r"年" + _NUM + r"月" + _NUM, rest):
        month = cn_number(m.group(1))
        if month and 1 <= month <= 12:
            return dt.date(year, month, 1), _month_end(year, month)
        return None
    if re.search(r"年" + _NUM + r"月" + _NUM, rest) or re.search(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}", rest):
        return None  # a single day: parse_date
    if "年初" in rest:
        return dt.date(year, 1, 1), dt.date(year, 1, 31)
    if "年底" in rest or "年末" in rest:
        return dt.date(year, 12, 1), dt.date(year, 12, 31)
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


_SEASONS = {"春": 3, "夏": 6, "秋": 9, "冬": 12}


def _season(p: str, year: int) -> tuple[dt.date, dt.date] | None:
    """去年秋天: March-May is spring, June-August summer, September-November autumn, December-February winter."""
    m = re.search(r"([春夏秋冬])(天|季)", p)
    if not m:
        return None
    first = dt.date(year, _SEASONS[m.group(1)], 1)
    last = _add_months(first, 2)
    return first, _month_end(last.year, last.month)


def _half_or_quarter(p: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    season = _season(p, today.year)
    if season is not None:  # 秋天 with no year: the latest one begun
        return season if season[0] <= today else _season(p, today.year - 1)
    if "上半年" in p:
        year = today.year if today.month > 1 or today.day > 1 else today.year - 1
        return dt.date(year, 1, 1), dt.date(year, 6, 30)
    if "下半年" in p:
        year = today.year if today.month >= 7 else today.year - 1
        return dt.date(year, 7, 1), dt.date(year, 12, 31)
    current_q = (today.month - 1) // 3 + 1
    if re.search(r"(上|上一|上个)季度", p):
        q, year = (current_q - 1, today.year) if current_q > 1 else (4, today.year - 1)
        return dt.date(year, 3 * q - 2, 1), _month_end(year, 3 * q)
    if re.search(r"(本|这|这个|当)季度", p):
        return dt.date(today.year, 3 * current_q - 2, 1), today
    m = re.search(_QUARTER, p)
    if m:
        q = int(m.group(1)) if m.group(1).isdigit() else "一二三四".index(m.group(1)) + 1
        year = today.year if q <= current_q else today.year - 1
        return dt.date(year, 3 * q - 2, 1), _month_end(year, 3 * q)
    return None


def _relative(p: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    day = dt.timedelta(days=1)
    if re.search(r"年初(到|至)(现在|今)|今年以来", p):
        return dt.date(today.year, 1, 1), today
    for key, back in (("大前天", 3), ("前天", 2), ("昨天", 1), ("昨日", 1), ("今天", 0), ("今日", 0)):
        if key in p and not re.search(r"(最近|近|这|过去)" + _NUM, p):
            return (today - back * day,) * 2  # type: ignore[return-value]
    m = re.search(r"前(" + _NUM + r"|几)天", p)
    if m:
        n = 3 if m.group(1) == "几" else cn_number(m.group(1)) or 0
        if n > 0:
            return today - n * day, today - day
    if re.search(r"(这|最近|近)(几|两|俩)天", p):
        return today - 2 * day, today
    if re.search(r"(最近|近|这)(半个月|半月)", p):
        return today - 14 * day, today
    m = re.search(r"(?:最近|近|这|过去|前)?(" + _NUM + r"|半|几)个?(天|日|周|星期|礼拜|月|年)", p)
    if m and m.group(2) == "月" and "个" not in m.group(0) and not re.search(r"最近|近|过去", p):
        m = None
    if m and m.group(2) == "日" and not re.search(r"最近|近|过去|这", p):
        m = None  # 十五日 is a day of the month, not the last fifteen days
    if m and (
        re.search(r"(天|周|星期|礼拜|月)(前|以前|之前|后|以后|之后)", p)
        or (m.group(2) == "年" and len(m.group(1)) >= 3)
    ):
        m = None  # 三天前 is one day; 2024年 is a year, not the last 2,024 years
    if m and (re.search(r"最近|近|过去|这", p) or p.startswith(m.group(0))) and not re.search(_NUM + r"月份", p):
        unit = m.group(2)
        raw = m.group(1)
        amount: float | None = 0.5 if raw == "半" else 3 if raw == "几" else cn_number(raw)
        if amount:
            if unit in ("天", "日"):
                return today - (int(amount) - 1) * day, today
            if unit in ("周", "星期", "礼拜"):
                return today - (int(amount * 7) - 1) * day, today
            if unit == "月":
                return _add_months(today, -(6 if amount == 0.5 else int(amount))) + day, today
            if unit == "年":
                return _add_months(today, -(6 if amount == 0.5 else 12 * int(amount))) + day, today
    if re.search(r"最近一周|近一周|这一周|一个?星期|一个?礼拜", p) or p in ("最近", "近期", "这阵子", "这段时间"):
        return today - 6 * day, today
    if re.search(r"上上(一个|个|一)?(周|星期|礼拜)", p):
        start = _week_start(today) - 14 * day
        return start, start + 6 * day
    if re.search(r"(这|本)个?(周|星期|礼拜)(?![一二三四五六日天末1-7])", p):
        return _week_start(today), today
    if re.search(r"上(一个|个|一)?(周|星期|礼拜)(?![一二三四五六日天末1-7])", p):
        start = _week_start(today) - 7 * day
        return start, start + 6 * day
    return None


def _month_parts(p: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """本月/上个月/上上个月, with 初 / 上旬 / 中旬 / 下旬 / 底."""
    if re.search(r"月" + _NUM + r"[号日]", p):
        return None  # 上个月10号 is a day
    first: dt.date | None = None
    if re.search(r"上上个?月", p):
        first = _add_months(today.replace(day=1), -2)
    elif re.search(r"上(一个|个|一)?月", p):
        first = _add_months(today.replace(day=1), -1)
    elif re.search(r"(这|本)个?月|当月", p) or re.fullmatch(r"月初|月中|上旬|中旬|下旬", p):
        first = today.replace(day=1)
    if first is None:
        return None
    end = _month_end(first.year, first.month)
    if "上旬" in p or "月初" in p:
        return first, first.replace(day=10)
    if "中旬" in p or "月中" in p:
        return first.replace(day=11), first.replace(day=20)
    if "下旬" in p or "月底" in p or "月末" in p:
        return first.replace(day=21), end
    return first, end


def _month_alone(p: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    m = re.search(r"(" + _NUM + r")月份?(?!" + _NUM + r")(?![号日初廿])", p)  # 十月初一 is a (lunar) day
    if m and not re.search(_NUM + r"月" + _NUM + r"[号日]?", p):
        return _month_of(m.group(1) + "月", today)
    return None


def parse_date(text: str | None, today: dt.date, prefer_future: bool = True) -> dt.date | None:
    """A single day: 明天, 后天, 过两天, 三天后, 下周一, 这周五, 礼拜六, 3月5号, 十五号, 下个月2号, 月底,
    2024-03-05, 二〇二四年三月五号.

    ``prefer_future`` decides which way an incomplete date goes (3月5号 said in April means next
    year's for an appointment, this year's for a statement).
    """
    p = normalise(text)
    if not p:
        return None
    m = re.search(r"(\d{4})[-/.年](" + _NUM + r")[-/.月](" + _NUM + r")", p)
    if m:
        return _safe_date(int(m.group(1)), cn_number(m.group(2)) or 0, cn_number(m.group(3)) or 0)
    festival = _festival(p, today, prefer_future)
    if festival is not None:
        return festival or None  # False: a festival named vaguely (春节前, 过完年): no day to pin down
    m = re.search(r"(" + _NUM + r"|半|几)个?(周|星期|礼拜|月)(后|以后|之后|前|以前|之前)", p)
    if m:  # 一周后, 半个月前, 两个月以后
        raw, unit, sign = m.group(1), m.group(2), (1 if m.group(3)[-1] == "后" else -1)
        if unit == "月":
            if raw == "半":
                return today + dt.timedelta(days=15 * sign)
            months = 3 if raw == "几" else cn_number(raw)
            return _add_months(today, sign * months) if months and months <= 120 else None
        weeks = 0.5 if raw == "半" else 3 if raw == "几" else cn_number(raw)
        return today + dt.timedelta(days=int(7 * weeks) * sign) if weeks and weeks <= 520 else None
    if re.fullmatch(r"(现在|马上|立刻|立即|这会儿?|今天?马上)(就|去|过去|办)?", p):
        return today
    m = re.search(r"(" + _NUM + r"|几)天(后|以后|之后)", p)
    if m:
        n = 3 if m.group(1) == "几" else cn_number(m.group(1))
        return today + dt.timedelta(days=n) if n else None
    m = re.search(r"(" + _NUM + r"|几)天(前|以前|之前)", p)
    if m:
        n = 3 if m.group(1) == "几" else cn_number(m.group(1))
        return today - dt.timedelta(days=n) if n else None
    m = re.search(r"过(" + _NUM + r"|几)天", p)
    if m:
        n = 3 if m.group(1) == "几" else cn_number(m.group(1))
        return today + dt.timedelta(days=n) if n else None
    relative = [
        ("大后天", 3),
        ("后天", 2),
        ("明天", 1),
        ("明日", 1),
        ("明儿", 1),
        ("今天", 0),
        ("今日", 0),
        ("今儿", 0),
        ("大前天", -3),
        ("前天", -2),
        ("昨天", -1),
        ("昨日", -1),
        ("昨儿", -1),
    ]
    for key, offset in relative:
        if key in p:
            return today + dt.timedelta(days=offset)
    m = re.search(r"(下下|下|这|本|上上|上)?个?(?:周|星期|礼拜)([一二三四五六日天末1-7])", p)
    if m:
        weekday = _WEEKDAY[m.group(2)]
        week = {"下下": 2, "下": 1, "上": -1, "上上": -2}.get(m.group(1) or "", 0)
        day = _week_start(today) + dt.timedelta(days=7 * week + weekday)
        if not m.group(1) and prefer_future and day < today:
            day += dt.timedelta(days=7)
        if not m.group(1) and not prefer_future and day > today:
            day -= dt.timedelta(days=7)
        return day
    if re.search(r"下(个)?月底", p):
        nxt = _add_months(today.replace(day=1), 1)
        return _month_end(nxt.year, nxt.month)
    if re.search(r"上(个)?月底", p):
        prev = _add_months(today.replace(day=1), -1)
        return _month_end(prev.year, prev.month)
    if "月底" in p:
        return _month_end(today.year, today.month)
    m = re.search(r"(?:(下|这|本|上)个?月)?(?:(" + _NUM + r")月)?(" + _NUM + r")[号日]", p)
    if m:
        day_no = cn_number(m.group(3))
        base = today
        if m.group(1) == "下":
            base = _add_months(today.replace(day=1), 1)
        elif m.group(1) == "上":
            base = _add_months(today.replace(day=1), -1)
        month = cn_number(m.group(2)) if m.group(2) else base.month
        if not day_no or not month or not 1 <= month <= 12:
            return None
        candidate = _safe_date(base.year, month, day_no)
        if candidate is None:
            return None
        if m.group(1) is None:
            if prefer_future and candidate < today:
                return _shift(candidate, years=1 if m.group(2) else 0, months=0 if m.group(2) else 1)
            if not prefer_future and candidate > today:
                return _shift(candidate, years=-1 if m.group(2) else 0, months=0 if m.group(2) else -1)
        return candidate
    m = re.search(r"(?<![0-9年])(" + _NUM + r")月(" + _NUM + r")(?=[上下中早晚]|$)", p)
    if m:  # 12月5, 十二月二十: a day of the month said without 号 (lunar ones were read above)
        return parse_date(p[: m.end()] + "号", today, prefer_future)
    return None


def _shift(day: dt.date, years: int = 0, months: int = 0) -> dt.date | None:
    total = years * 12 + months
    moved = _add_months(day.replace(day=1), total)
    try:
        return moved.replace(day=day.day)
    except ValueError:
        return None


# Festivals by the lunar calendar (month, day) and by the solar one; 除夕 is the lunar year's last day.
_LUNAR_FESTIVALS = (
    (r"除夕|大年三十|年三十", (12, 0)),
    (r"大年初一|春节", (1, 1)),
    (r"元宵", (1, 15)),
    (r"龙抬头", (2, 2)),
    (r"端午", (5, 5)),
    (r"七夕", (7, 7)),
    (r"中秋", (8, 15)),
    (r"重阳", (9, 9)),
    (r"腊八", (12, 8)),
    (r"小年", (12, 23)),
)
_SOLAR_FESTIVALS = (
    (r"元旦", (1, 1)),
    (r"五一|劳动节", (5, 1)),
    (r"国庆", (10, 1)),
    (r"双十一|双11", (11, 11)),
    (r"双十二|双12", (12, 12)),
    (r"圣诞", (12, 25)),
)
_LUNAR_MONTH = {"正": 1, "冬": 11, "腊": 12}
_LUNAR_DATE = re.compile(
    r"(农历|阴历|老历)?(正|冬|腊|十二|十一|十|[一二三四五六七八九]|1[0-2]|[1-9])月"
    r"(初[一二三四五六七八九十]|廿[一二三四五六七八九]?|[二三]?十[一二三四五六七八九]?|[一二三四五六七八九]|[12]?[0-9]|30)"
    r"(?![0-9号日])"
)
_VAGUE_AFTER = r"节?(以|之)?[前后](?![后第])"  # 春节前, 国庆后: some day around it, not a day


def _festival(p: str, today: dt.date, prefer_future: bool) -> dt.date | Literal[False] | None:
    """腊月二十三, 正月十五, 农历十一月十五, 除夕, 中秋, 元旦, 清明前后, 国庆节后第一天.

    The nearest occurrence after today (or before it, when ``prefer_future`` is false); False when the
    festival is named only as a vague time around it (春节前); None when the phrase names none.
    """
    years = (
        [today.year - 1, today.year, today.year + 1] if prefer_future else [today.year - 2, today.year - 1, today.year]
    )
    for zh, en in _HOLIDAYS.items():  # 国庆节后第一天: the first working day after the statutory rest
        if en and re.search(zh + r"节?(假期)?(后|以后|之后|过后)(第一天|第一个工作日|上班)", p):
            firsts = [days[-1] + dt.timedelta(days=1) for y in years if (days := holiday_days(y, en))]
            return _nearest(firsts, today, prefer_future) or False
    named: list[tuple[str, Callable[[int], dt.date | None]]] = []
    m = _LUNAR_DATE.search(p)
    if m:
        month = _LUNAR_MONTH.get(m.group(2)) or cn_number(m.group(2)) or 0
        day = cn_number(m.group(3).removeprefix("初")) or 0
        lunar = m.group(1) or m.group(2) in _LUNAR_MONTH or m.group(3)[0] in "初廿" or m.group(0).startswith("八月十五")
        if lunar and 1 <= month <= 12 and 1 <= day <= 30:
            named.append((m.group(0), partial(_lunar_day, month=month, day=day)))
    for pattern, (month, day) in _LUNAR_FESTIVALS:
        if found := re.search(pattern, p):
            named.append((found.group(0), partial(_lunar_day, month=month, day=day)))
    for pattern, (month, day) in _SOLAR_FESTIVALS:
        if found := re.search(pattern, p):
            named.append((found.group(0), partial(_solar_day, month=month, day=day)))
    if found := re.search(r"清明", p):
        named.append((found.group(0), _qingming))
    if not named:
        return None
    word, when = named[0]
    if re.search(re.escape(word) + _VAGUE_AFTER, p):
        return False
    return _nearest([d for y in years if (d := when(y)) is not None], today, prefer_future) or False


def _nearest(days: list[dt.date], today: dt.date, prefer_future: bool) -> dt.date | None:
    if prefer_future:
        return min((d for d in days if d >= today), default=None)
    return max((d for d in days if d <= today), default=None)


def _solar_day(year: int, month: int, day: int) -> dt.date | None:
    return _safe_date(year, month, day)


def _lunar_day(lunar_year: int, month: int, day: int) -> dt.date | None:
    """The solar date of a lunar one (day 0 of month 12: the year's last day, 除夕)."""
    from lunar_python import Lunar  # imported here: only lunar phrases need it

    try:
        if day == 0:
            solar = Lunar.fromYmd(lunar_year + 1, 1, 1).getSolar()
            return dt.date(solar.getYear(), solar.getMonth(), solar.getDay()) - dt.timedelta(days=1)
        solar = Lunar.fromYmd(lunar_year, month, day).getSolar()
    except Exception:  # noqa: BLE001 - lunar-python raises bare Exception for a day the month lacks
        return None
    return dt.date(solar.getYear(), solar.getMonth(), solar.getDay())


def _qingming(year: int) -> dt.date | None:
    from lunar_python import Solar

    term = Solar.fromYmd(year, 4, 15).getLunar().getJieQiTable().get("清明")
    return dt.date(term.getYear(), term.getMonth(), term.getDay()) if term else None
