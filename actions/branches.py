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
from actions.texts import branch_list, hours_text
from crm.access.branches import find_branches, home_branch, nearest_branches

ACTION_ASK_BRANCH = "action_ask_branch"
# A shared location this far from every branch is outside the bank's area: say so, not "约744公里".
FAR_KM = 50.0
HOURS_WORDS = ("几点", "下班", "上班", "开门", "关门", "营业时间", "营业到", "休息", "开不开", "开门不", "上几点")
WHERE_WORDS = ("在哪", "哪里", "哪儿", "地址", "怎么走", "最近", "附近", "电话")


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
        if where is None and not place and mentions(text, *HOURS_WORDS) and not mentions(text, *WHERE_WORDS):
            for reply in await in_session(lambda s: hours_answer(s, tracker.sender_id)):
                reply.send(dispatcher)
            return []
        (await in_session(lambda s: branch_answer(s, place, where, tracker.sender_id))).send(dispatcher)
        return []
