"""Chinese time expressions → concrete dates (Asia/Shanghai calendar days).

Customers say 上个月, 最近三天, 今年, 上周, 3月5号, 下周一, 十五号 ... The NLU marks the phrase
(entities ``time_range`` / ``date``); this module turns it into dates relative to "today" in the
bank's time zone. Pure functions, so they are easy to property-test.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_DAYS = 7
MAX_RANGE_DAYS = 366 * 3  # statements older than this are a branch matter

_DIGIT = {
    "零": 0,
    "〇": 0,
    "一": 1,
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
_WEEKDAY = {
    "一": 0,
    "1": 0,
    "二": 1,
    "2": 1,
    "三": 2,
    "3": 2,
    "四": 3,
    "4": 3,
    "五": 4,
    "5": 4,
    "六": 5,
    "6": 5,
    "日": 6,
    "天": 6,
    "7": 6,
    "末": 5,
}
_NUM = r"[0-9零〇一二两俩三四五六七八九十百]+"


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
        elif ch.isdigit():
            current = current * 10 + int(ch)
        else:
            return None
    return total + current


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
    phrase = re.sub(r"\s+", "", text or "")
    if not phrase:
        return DateRange(today - dt.timedelta(days=DEFAULT_DAYS - 1), today)
    looks_like_day = re.search(_NUM + r"[号日]", phrase) and not re.search(r"最近|近|过去|这", phrase)
    found = None if looks_like_day else _parse_range(phrase, today)
    if found is None:
        single = parse_date(phrase, today, prefer_future=False)
        if single is not None and single <= today:
            return DateRange(single, single)
        return DateRange(today - dt.timedelta(days=DEFAULT_DAYS - 1), today)
    return _clip(found[0], found[1], today)


def _parse_range(p: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    fixed = {
        "今天": (today, today),
        "今日": (today, today),
        "昨天": (today - dt.timedelta(days=1),) * 2,
        "昨日": (today - dt.timedelta(days=1),) * 2,
        "前天": (today - dt.timedelta(days=2),) * 2,
    }
    for key, value in fixed.items():
        if key in p and not re.search(r"(最近|近|这)" + _NUM, p):
            return value
    m = re.search(r"(?:最近|近|这|过去)?(" + _NUM + r"|半)个?(天|日|周|星期|礼拜|月|年)", p)
    if m and m.group(2) == "月" and "个" not in m.group(0) and not re.search(r"最近|近|过去", p):
        m = None
    if (
        m
        and ("最近" in p or "近" in p or "过去" in p or "这" in p or p.startswith(m.group(0)))
        and not re.search(r"\d+月份|" + _NUM + r"月份", p)
    ):
        unit = m.group(2)
        n = 0.5 if m.group(1) == "半" else cn_number(m.group(1))
        if n is not None and n > 0:
            if unit in ("天", "日"):
                return today - dt.timedelta(days=int(n) - 1), today
            if unit in ("周", "星期", "礼拜"):
                return today - dt.timedelta(days=int(n * 7) - 1), today
            if unit == "月":
                months = 6 if n == 0.5 else int(n)
                return _add_months(today, -months) + dt.timedelta(days=1), today
            if unit == "年":
                if n == 0.5:
                    return _add_months(today, -6) + dt.timedelta(days=1), today
                return _add_months(today, -12 * int(n)) + dt.timedelta(days=1), today
    if re.search(r"最近一周|近一周|这一周|一个?星期|一个?礼拜|最近", p) and "月" not in p and "年" not in p:
        return today - dt.timedelta(days=6), today
    if re.search(r"(这|本)(周|星期|礼拜)", p):
        return _week_start(today), today
    if re.search(r"上(个|一)?(周|星期|礼拜)", p):
        start = _week_start(today) - dt.timedelta(days=7)
        return start, start + dt.timedelta(days=6)
    if re.search(r"(这|本)个?月|当月", p):
        return today.replace(day=1), today
    if re.search(r"上上个?月", p):
        first = _add_months(today.replace(day=1), -2)
        return first, _month_end(first.year, first.month)
    if re.search(r"上(个|一)?月", p):
        first = _add_months(today.replace(day=1), -1)
        return first, _month_end(first.year, first.month)
    if re.search(r"今年|本年|这一?年", p):
        return dt.date(today.year, 1, 1), today
    if "前年" in p:
        return dt.date(today.year - 2, 1, 1), dt.date(today.year - 2, 12, 31)
    if "去年" in p or "上一年" in p:
        year = today.year - 1
        m2 = re.search(r"(" + _NUM + r")月", p)
        month = cn_number(m2.group(1)) if m2 else None
        if month and 1 <= month <= 12:
            return dt.date(year, month, 1), _month_end(year, month)
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    m = re.search(r"(" + _NUM + r")月份?(?!\d*[号日])", p)
    if m and not re.search(_NUM + r"月" + _NUM + r"[号日]?", p):
        month = cn_number(m.group(1))
        if month and 1 <= month <= 12:
            year = today.year if month <= today.month else today.year - 1
            return dt.date(year, month, 1), _month_end(year, month)
    return None


def parse_date(text: str | None, today: dt.date, prefer_future: bool = True) -> dt.date | None:
    """A single day: 明天, 后天, 下周一, 这周五, 礼拜六, 3月5号, 十五号, 下个月2号, 月底, 2024-03-05.

    ``prefer_future`` decides which way an incomplete date goes (3月5号 said in April means next
    year's for an appointment, this year's for a statement).
    """
    p = re.sub(r"\s+", "", text or "")
    if not p:
        return None
    m = re.search(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})", p)
    if m:
        try:
            return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            return None
    relative = [
        ("大后天", 3),
        ("后天", 2),
        ("明天", 1),
        ("明日", 1),
        ("今天", 0),
        ("今日", 0),
        ("大前天", -3),
        ("前天", -2),
        ("昨天", -1),
    ]
    for key, offset in relative:
        if key in p:
            return today + dt.timedelta(days=offset)
    m = re.search(r"(下下|下|这|本|上)?个?(?:周|星期|礼拜)([一二三四五六日天末1-7])", p)
    if m:
        weekday = _WEEKDAY[m.group(2)]
        week = {"下下": 2, "下": 1, "上": -1}.get(m.group(1) or "", 0)
        day = _week_start(today) + dt.timedelta(days=7 * week + weekday)
        if not m.group(1) and prefer_future and day < today:
            day += dt.timedelta(days=7)
        return day
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
        year = base.year
        try:
            candidate = dt.date(year, month, day_no)
        except ValueError:
            return None
        if m.group(1) is None:
            if prefer_future and candidate < today:
                return _shift(candidate, years=1 if m.group(2) else 0, months=0 if m.group(2) else 1)
            if not prefer_future and candidate > today:
                return _shift(candidate, years=-1 if m.group(2) else 0, months=0 if m.group(2) else -1)
        return candidate
    return None


def _shift(day: dt.date, years: int = 0, months: int = 0) -> dt.date | None:
    total = years * 12 + months
    moved = _add_months(day.replace(day=1), total)
    try:
        return moved.replace(day=day.day)
    except ValueError:
        return None
