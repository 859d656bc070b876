"""Fallback counting, cancel, branches (town, location, calendar) through the webhook."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.access.branches import haversine_km
from crm.models import Branch
from tests.actions.conftest import slot_events, texts, tracker, user_event
from tests.actions.responses import rendered, response_text


def _fallback_turn(text: str) -> list[dict[str, Any]]:
    return [
        user_event(text, "nlu_fallback"),
        {"event": "action", "name": "action_default_fallback"},
        {"event": "bot", "text": "..."},
        {"event": "rewind"},
        {"event": "action", "name": "action_listen"},
    ]


async def test_second_fallback_in_a_row_offers_a_human(webhook: Any) -> None:
    greet = [
        user_event("你好", "greet"),
        {"event": "action", "name": "utter_greet"},
        {"event": "action", "name": "action_listen"},
    ]
    first = await webhook("action_default_fallback", tracker("web:x", "啊啊啊", "nlu_fallback", events=greet))
    assert first["responses"][0]["response"] == "utter_default"
    assert first["responses"][-1]["custom"] == {"fallback": True}
    assert first["events"][0]["event"] == "rewind"
    second = await webhook(
        "action_default_fallback",
        tracker("web:x", "哦哦哦", "nlu_fallback", events=greet + _fallback_turn("啊啊啊")),
    )
    assert texts(second)[0] == "抱歉，小农还是没能理解您的意思。需要的话我可以为您转接人工客服。"
    assert rendered(second)[0]["buttons"] == [{"title": "转人工客服", "payload": "/request_human"}]
    assert second["responses"][-1]["custom"] == {"fallback": True}


async def test_cancel_inside_and_outside_a_form(webhook: Any) -> None:
    inside = await webhook(
        "action_cancel_form",
        tracker("web:x", "算了", "cancel", active_loop="bind_account_form", slots={"phone": "13800000000"}),
    )
    assert texts(inside) == [response_text("utter_form_cancelled")]
    events = inside["events"]
    assert {"event": "active_loop", "name": None} in [
        {k: e.get(k) for k in ("event", "name")} for e in events
    ]
    assert slot_events(inside)["phone"] is None
    outside = await webhook("action_cancel_form", tracker("web:x", "算了", "cancel"))
    assert texts(outside) == [response_text("utter_nothing_to_cancel")] and outside["events"] == []


async def test_nearest_branch_by_shared_location(webhook: Any, db: Session) -> None:
    branches = db.scalars(select(Branch)).all()
    target = branches[5]
    here = {"latitude": target.latitude + 0.001, "longitude": target.longitude - 0.001}
    result = await webhook(
        "action_ask_branch", tracker("wechat:oX", "/ask_branch", "ask_branch", metadata={"location": here})
    )
    said = texts(result)[0]
    listed = [line for line in said.splitlines() if line.startswith("· ")]
    assert listed[0].startswith(f"· {target.name}")
    ordered = sorted(
        branches, key=lambda b: haversine_km(here["latitude"], here["longitude"], b.latitude, b.longitude)
    )
    assert [line.split("，")[0][2:] for line in listed] == [b.name for b in ordered[:3]]


async def test_branch_by_town(webhook: Any, db: Session) -> None:
    branch = db.scalars(select(Branch).order_by(Branch.id)).all()[2]
    result = await webhook(
        "action_ask_branch",
        tracker("web:x", f"{branch.town}网点在哪", "ask_branch", entities={"town": branch.town}),
    )
    assert branch.name in texts(result)[0] and branch.address in texts(result)[0]
    none = await webhook(
        "action_ask_branch", tracker("web:x", "火星网点", "ask_branch", entities={"town": "火星"})
    )
    assert "没有找到" in texts(none)[0]


def test_holiday_calendar_rules() -> None:
    from crm.access.branches import BranchInfo, DayKind, day_kind, hours_on

    weekday_only = BranchInfo(
        1, "A", "t", "a", "p", 0, 0, {"weekday": ["08:30", "17:00"], "weekend": None}, 20
    )
    both = BranchInfo(
        2, "B", "t", "a", "p", 0, 0, {"weekday": ["08:30", "17:00"], "weekend": ["09:00", "16:00"]}, 20
    )
    national_day = dt.date(2025, 10, 1)  # Wednesday, statutory holiday
    adjusted = dt.date(2025, 9, 28)  # Sunday, worked in exchange (调休上班)
    assert day_kind(national_day) is DayKind.HOLIDAY and day_kind(adjusted) is DayKind.ADJUSTED_WORKDAY
    assert hours_on(weekday_only, national_day) is None
    assert hours_on(both, national_day) == ("09:00", "16:00")
    assert hours_on(weekday_only, adjusted) == ("08:30", "17:00")
    # Beyond the calendar's known years: plain weekday rules, no crash.
    far = dt.date(2099, 1, 3)
    assert day_kind(far) is (DayKind.WEEKEND if far.weekday() >= 5 else DayKind.WORKDAY)
