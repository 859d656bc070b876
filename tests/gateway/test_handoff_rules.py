"""Working hours (chinesecalendar) and the negative-sentiment scorer."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.handoff.hours import is_workday, is_working_time
from gateway.handoff.sentiment import is_clearly_negative, score
from gateway.handoff.settings import HandoffSettings

SH = dt.timezone(dt.timedelta(hours=8))
S = HandoffSettings(work_start="08:30", work_end="17:30")


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (dt.datetime(2025, 10, 9, 10, 0, tzinfo=SH), True),  # Thursday after National Day
        (dt.datetime(2025, 10, 9, 8, 29, tzinfo=SH), False),  # before opening
        (dt.datetime(2025, 10, 9, 17, 30, tzinfo=SH), False),  # closing time is excluded
        (dt.datetime(2025, 10, 2, 10, 0, tzinfo=SH), False),  # National Day holiday (a Thursday)
        (dt.datetime(2025, 9, 28, 10, 0, tzinfo=SH), True),  # make-up workday on a Sunday
        (dt.datetime(2025, 10, 11, 10, 0, tzinfo=SH), True),  # Saturday make-up workday
        (dt.datetime(2025, 10, 12, 10, 0, tzinfo=SH), False),  # ordinary Sunday
    ],
)
def test_working_time_follows_the_official_calendar(local: dt.datetime, expected: bool) -> None:
    assert is_working_time(local.astimezone(dt.UTC), S) is expected


def test_unknown_years_fall_back_to_weekdays() -> None:
    assert is_workday(dt.date(2040, 1, 2)) is True  # Monday
    assert is_workday(dt.date(2040, 1, 7)) is False  # Sunday


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        is_working_time(dt.datetime(2025, 10, 9, 10, 0), S)  # noqa: DTZ001


def test_settings_from_env() -> None:
    s = HandoffSettings.from_env({"HANDOFF_RM_REPLY_TIMEOUT_S": "90", "HANDOFF_WORK_END": "18:00"})
    assert s.rm_reply_timeout_s == 90.0 and s.hours()[1] == dt.time(18, 0)


@pytest.mark.parametrize(
    "text", ["你们就是骗子", "气死我了，什么破银行", "我要投诉你们，太差劲了", "垃圾服务"]
)
def test_clearly_negative(text: str) -> None:
    assert is_clearly_negative(text)


@pytest.mark.parametrize("text", ["我想查余额", "不错，谢谢", "你们不是骗子吧", "投资理财有哪些", "有点失望"])
def test_not_clearly_negative(text: str) -> None:
    assert not is_clearly_negative(text)
    assert score(text) > -3.0
