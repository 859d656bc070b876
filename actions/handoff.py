"""Handoff actions: ask for a person (the gateway queues the conversation) and rate the service.

The gateway owns conversation state; these actions only tell it what the customer wants, through
the ``custom`` payload ``{"handoff": {...}}`` it reads from the bot's output.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.context import in_session
from crm.access.ratings import rate_latest

ACTION_REQUEST_HUMAN = "action_request_human"
ACTION_RATE_SERVICE = "action_rate_service"


def handoff_payload(reason: str = "request_human", priority: int = 0) -> dict[str, Any]:
    return {"handoff": {"reason": reason, "priority": priority}}


class ActionRequestHuman(Action):
    """The gateway answers with the queue position, so the action itself says nothing."""

    def name(self) -> str:
        return ACTION_REQUEST_HUMAN

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(json_message=handoff_payload())
        return []


def score_from(tracker: Tracker) -> int | None:
    value = next(tracker.get_latest_entity_values("score"), None)
    try:
        score = int(str(value).strip().rstrip("分星"))
    except (TypeError, ValueError):
        return None
    return score if 1 <= score <= 5 else None


class ActionRateService(Action):
    """A rating given without being asked ("给刚才的经理打5分"); the asked-for one goes through the gateway."""

    def name(self) -> str:
        return ACTION_RATE_SERVICE

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        score = score_from(tracker)
        if score is None:
            dispatcher.utter_message(response="utter_ask_rating")
            return []
        rating = await in_session(lambda s: rate_latest(s, tracker.sender_id, score))
        dispatcher.utter_message(response="utter_thank_rating" if rating else "utter_rating_nothing_to_rate")
        return []
