"""Where is the nearest branch, and is it open: by town name or by a shared location."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import entity, in_session, location_of, today
from actions.reply import Reply
from actions.texts import branch_list
from crm.access.branches import find_branches, nearest_branches

ACTION_ASK_BRANCH = "action_ask_branch"


def branch_answer(session: Session, place: str | None, location: tuple[float, float] | None) -> Reply:
    if location is not None:
        return Reply.computed(branch_list(None, nearest_branches(session, *location, limit=3), today()))
    if not place:
        return Reply.of("utter_which_town")
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
        (await in_session(lambda s: branch_answer(s, place, where))).send(dispatcher)
        return []
