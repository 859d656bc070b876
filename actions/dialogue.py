"""Conversation-level actions: the core fallback (two in a row → offer a human) and
marketing subscribe / unsubscribe."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import in_session, verified
from actions.insights import record_gap

ACTION_DEFAULT_FALLBACK = "action_default_fallback"
ACTION_UNSUBSCRIBE = "action_unsubscribe"
ACTION_SUBSCRIBE = "action_subscribe"


def fallbacks_in_a_row(tracker: Tracker) -> int:
    """How many core fallbacks happened since the bot last did anything else (this one not counted)."""
    count = 0
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "action":
            name = event.get("name")
            if name == ACTION_DEFAULT_FALLBACK:
                count += 1
            elif name != "action_listen":
                break
    return count


class ActionDefaultFallback(Action):
    """Replaces Rasa's default: says utter_default, tells the gateway (``{"fallback": true}``),
    and on the second fallback in a row offers a human."""

    def name(self) -> str:
        return ACTION_DEFAULT_FALLBACK

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if fallbacks_in_a_row(tracker) >= 1:
            dispatcher.utter_message(response="utter_fallback_human")
        else:
            dispatcher.utter_message(response="utter_default")
        dispatcher.utter_message(json_message={"fallback": True})
        await record_gap(tracker, "fallback")  # kept for intent review and knowledge gaps (#23)
        # Like Rasa's own fallback: forget the misunderstood message so a form or story can resume.
        return [UserUtteranceReverted()]


def _set_consent(sender_id: str, granted: bool) -> Callable[[Session], bool]:
    """Database work that returns True if done, False when nobody verified is behind this chat."""
    from crm.access.consent import opt_in, opt_out

    def work(session: Session) -> bool:
        who = verified(session, sender_id)
        if who is None:
            return False
        if granted:
            opt_in(session, who, source="微信订阅" if who.channel == "wechat" else "网页订阅")
        else:
            opt_out(session, who, source="微信退订" if who.channel == "wechat" else "网页退订")
        return True

    return work


class ActionUnsubscribe(Action):
    def name(self) -> str:
        return ACTION_UNSUBSCRIBE

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        done = await in_session(_set_consent(tracker.sender_id, granted=False))
        dispatcher.utter_message(response="utter_unsubscribed" if done else "utter_unsubscribe_not_bound")
        return []


class ActionSubscribe(Action):
    def name(self) -> str:
        return ACTION_SUBSCRIBE

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        done = await in_session(_set_consent(tracker.sender_id, granted=True))
        dispatcher.utter_message(response="utter_subscribed" if done else "utter_subscribe_not_bound")
        return []
