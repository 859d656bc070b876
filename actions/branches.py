"""Where is the nearest branch, and is it open: by town name, a shared location, or the bound
customer's own branch; and "几点下班" answered with the hours (#20)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import entity, in_session, location_of, today, verified
from actions.normalise import mentions
from actions.reply import Reply
from actions.texts import branch_followup_text, branch_list, hours_text, weekend_branches_text
from crm.access.branches import BranchInfo, all_branches, find_branches, home_branch, nearest_branches

ACTION_ASK_BRANCH = "action_ask_branch"
# A shared location this far from every branch is outside the bank's area: say so, not "约744公里".
FAR_KM = 50.0
HOURS_WORDS = ("几点", "下班", "上班", "开门", "关门", "营业时间", "营业到", "休息", "开不开", "开门不", "上几点")
WHERE_WORDS = ("在哪", "哪里", "哪儿", "地址", "怎么走", "最近", "附近", "电话")
# Short follow-ups about the branch the bot just named (#3): "电话多少", "周六开门不", "中午休息吗".
FOLLOWUP_WORDS = {
    "phone": ("电话", "号码", "座机"),
    "weekend": ("周六", "周日", "周末", "礼拜六", "礼拜天", "礼拜日", "星期六", "星期天", "星期日", "双休"),
    "noon": ("中午", "午休", "午饭"),
}
LOOK_BACK = 3  # customer messages searched for the branch question a follow-up refers to


def followup_kind(text: str | None) -> str | None:
    """phone / weekend / noon, when a branch question asks only that (no place named)."""
    return next((kind for kind, words in FOLLOWUP_WORDS.items() if mentions(text, *words)), None)


def branches_named_before(session: Session, tracker: Tracker) -> list[BranchInfo]:
    """The branches the bot answered about in one of the customer's last few branch questions
    ("城关镇的网点在哪" or a shared location), for a follow-up that names none."""
    said = [e for e in reversed(tracker.events) if e.get("event") == "user"][1 : LOOK_BACK + 1]
    for event in said:
        parse = event.get("parse_data") or {}
        if (parse.get("intent") or {}).get("name") != "ask_branch":
            continue
        entities = {e.get("entity"): e.get("value") for e in parse.get("entities") or []}
        place = entities.get("branch") or entities.get("town")
        if place:
            return find_branches(session, str(place))[:3]
        metadata = event.get("metadata") or {}
        where = metadata.get("location") if isinstance(metadata, dict) else None
        if isinstance(where, dict):
            try:
                near = nearest_branches(session, float(where["latitude"]), float(where["longitude"]), limit=3)
            except (KeyError, TypeError, ValueError):
                return []
            return [] if near and (near[0].distance_km or 0.0) > FAR_KM else near
    return []


def followup_answer(session: Session, tracker: Tracker, kind: str) -> Reply | None:
    """For the branch(es) just named; else, for weekend / noon, the verified customer's own branch;
    else "周六开门不" lists the branches open at weekends. None: answer as before."""
    branches = branches_named_before(session, tracker)
    if not branches and kind != "phone":
        who = verified(session, tracker.sender_id)
        own = home_branch(session, who.customer_id) if who else None
        branches = [own] if own is not None else []
    if not branches and kind == "weekend":
        return Reply.computed(weekend_branches_text(all_branches(session)))
    text = branch_followup_text(branches, kind) if branches else ""
    return Reply.computed(text) if text else None


def hours_answer(session: Session, sender_id: str) -> list[Reply]:
    """General hours, plus the bound customer's own branch (never asks for a town first)."""
    replies = [Reply.of("utter_hours_general")]
    who = verified(session, sender_id)
    branch = home_branch(session, who.customer_id) if who else None
    if branch is not None:
        replies.append(Reply.computed(hours_text(branch, today())))
    else:
        replies.append(Reply.of("utter_hours_tip_town"))
    return replies


def branch_answer(
    session: Session, place: str | None, location: tuple[float, float] | None, sender_id: str = ""
) -> Reply:
    if location is not None:
        near = nearest_branches(session, *location, limit=3)
        if near and (near[0].distance_km or 0.0) > FAR_KM:
            return Reply.of("utter_branch_far", distance=f"{near[0].distance_km:.0f}")
        return Reply.computed(branch_list(None, near, today()))
    if not place:
        who = verified(session, sender_id) if sender_id else None
        own = home_branch(session, who.customer_id) if who else None
        if own is None:
            return Reply.of("utter_which_town")
        place = own.town
    found = find_branches(session, place)[:3]
    if not found:
        return Reply.of("utter_branch_not_found", place=place)
    return Reply.computed(branch_list(place, found, today()))


class ActionAskBranch(Action):
    def name(self) -> str:
        return ACTION_ASK_BRANCH

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        place = entity(tracker, "branch") or entity(tracker, "town")
        where = location_of(tracker)
        text = tracker.latest_message.get("text")
        kind = followup_kind(text) if where is None and not place else None
        if kind is not None:
            followup = await in_session(lambda s: followup_answer(s, tracker, kind))
            if followup is not None:
                followup.send(dispatcher)
                return []
        if where is None and not place and mentions(text, *HOURS_WORDS) and not mentions(text, *WHERE_WORDS):
            for reply in await in_session(lambda s: hours_answer(s, tracker.sender_id)):
                reply.send(dispatcher)
            return []
        (await in_session(lambda s: branch_answer(s, place, where, tracker.sender_id))).send(dispatcher)
        return []
