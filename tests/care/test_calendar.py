import datetime as dt

from care import calendar as cal

D = dt.date


def test_lunar_festivals_2027_match_the_almanac():
    got = {f.code: f.date for f in cal.festival_dates(2027)}
    assert got["spring_festival"] == D(2027, 2, 6)
    assert got["lantern"] == D(2027, 2, 20)
    assert got["dragon_boat"] == D(2027, 6, 9)
    assert got["mid_autumn"] == D(2027, 9, 15)
    assert got["double_ninth"] == D(2027, 10, 8)
    assert got["new_year"] == D(2027, 1, 1)
    assert got["national_day"] == D(2027, 10, 1)


def test_festivals_on_a_plain_day_is_empty_and_spring_festival_is_found():
    assert cal.festivals_on(D(2026, 3, 10)) == []
    assert [f.name for f in cal.festivals_on(D(2026, 2, 17))] == ["春节"]


def test_statutory_holiday_and_adjusted_workday_2026():
    national = cal.day_info(D(2026, 10, 1))
    assert national.holiday_name == "国庆节" and not national.is_workday and national.source == "official"
    makeup = cal.day_info(D(2026, 10, 10))  # a Saturday worked in lieu
    assert makeup.is_workday and makeup.adjusted_workday and makeup.holiday_name is None
    plain_saturday = cal.day_info(D(2026, 3, 7))
    assert not plain_saturday.is_workday and plain_saturday.holiday_name is None


def test_unknown_year_falls_back_to_weekends_and_says_so():
    assert not cal.is_supported_year(2099)
    monday, saturday = cal.day_info(D(2099, 6, 1)), cal.day_info(D(2099, 6, 6))
    assert monday.is_workday and not saturday.is_workday
    assert monday.source == saturday.source == "weekend_fallback"
    assert cal.holiday_periods(2099) == []


def test_holiday_periods_2026_include_spring_festival_with_makeup_days():
    periods = {p.name: p for p in cal.holiday_periods(2026)}
    spring = periods["春节"]
    assert spring.start == D(2026, 2, 15) and spring.end == D(2026, 2, 23)
    assert all(d.weekday() >= 5 for d in spring.adjusted_workdays) and spring.adjusted_workdays
    assert periods["国庆节"].start == D(2026, 10, 1)


def test_branch_hours_by_day_kind():
    hours = {"weekday": ["08:30", "17:00"], "weekend": None, "holiday": ["09:00", "15:00"]}
    assert cal.branch_hours(hours, D(2026, 3, 9)) == ("08:30", "17:00")  # Monday
    assert cal.branch_hours(hours, D(2026, 3, 7)) is None  # Saturday, closed
    assert cal.branch_hours(hours, D(2026, 10, 2)) == ("09:00", "15:00")  # holiday hours
    assert cal.branch_hours(hours, D(2026, 10, 10)) == ("08:30", "17:00")  # 调休 Saturday
    assert not cal.is_branch_open({"weekday": ["08:30", "17:00"], "weekend": None}, D(2026, 10, 2))
