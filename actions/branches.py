"""Where is the nearest branch, and is it open: by town name or by a shared location."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import entity, in_session, location_of, today
from crm.access.branches import BranchInfo, find_branches, hours_on, nearest_branches, next_open_day

ACTION_ASK_BRANCH = "action_ask_branch"
WEEKDAYS = "一二三四五六日"


def describe(branch: BranchInfo) -> str:
    now = today()
    hours = hours_on(branch, now)
    if hours:
        state = f"今天营业 {hours[0]}-{hours[1]}"
    else:
        nxt = next_open_day(branch, now)
        state = (
            f"今天不营业，下次营业是{nxt.month}月{nxt.day}日（周{WEEKDAYS[nxt.weekday()]}）"
            if nxt
            else "今天不营业"
        )
    distance = f"，距您约{branch.distance_km:.1f}公里" if branch.distance_km is not None else ""
    weekday = branch.opening_hours.get("weekday")
    weekend = branch.opening_hours.get("weekend")
    usual = f"工作日{weekday[0]}-{weekday[1]}" if weekday else ""
    usual += f"，周末{weekend[0]}-{weekend[1]}" if weekend else "，周末休息"
    return f"· {branch.name}{distance}：{branch.address}，电话{branch.phone}。{state}（平时{usual}）。"


def branch_text(session: Session, place: str | None, location: tuple[float, float] | None) -> str:
    if location is not None:
        found = nearest_branches(session, *location, limit=3)
        head = "离您最近的网点："
    elif place:
        found = find_branches(session, place)[:3]
        head = f"{place}附近的网点："
        if not found:
            return f"没有找到{place}的网点。您可以换个镇名试试，或者发送您的位置，我帮您找最近的网点。"
    else:
        return "请告诉我您在哪个乡镇，或者点击输入框旁的“+”发送位置，我帮您找最近的网点。"
    lines = [head, *(describe(b) for b in found)]
    lines.append("法定节假日营业时间可能调整，以网点公告为准。")
    return "\n".join(lines)


class ActionAskBranch(Action):
    def name(self) -> str:
        return ACTION_ASK_BRANCH

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        place = entity(tracker, "branch") or entity(tracker, "town")
        where = location_of(tracker)
        dispatcher.utter_message(text=await in_session(lambda s: branch_text(s, place, where)))
        return []
