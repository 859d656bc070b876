"""``action_answer_faq``: answer from the FAQ knowledge base, offer choices, or hand to a human.

Import is cheap: the index is created on first use, on the action server's one database engine
(``actions.context``), and kept for the life of the server; it hot-reloads when staff edit the KB
(see faq.service).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.context import session_factory
from actions.insights import record_gap
from actions.texts import FAQ_NONE_OF_THESE_BUTTON

ACTION_ANSWER_FAQ = "action_answer_faq"
INTENT_CHOOSE_FAQ = "choose_faq"
ENTITY_FAQ_ID = "faq_id"

log = logging.getLogger(__name__)

_service_lock = threading.Lock()
_service: Any = None  # faq.service.FaqService, created lazily


def get_service() -> Any:
    """The process-wide FaqService (index cache on the shared engine), created on first use."""
    global _service
    if _service is None:
        with _service_lock:
            if _service is None:
                from faq.service import FaqService

                _service = FaqService(session_factory())
    return _service


def warm_up() -> threading.Thread:
    """Build the index in the background as the action server starts.

    Without it the first FAQ question of the day's first customer waits for the build (seconds
    for a large KB); questions that arrive before the build is done wait for this same build.
    """

    def build() -> None:
        try:
            get_service().refresh()
        except Exception:  # the database may not be up yet: the first question builds it then
            log.warning("faq index not built at start-up; the first question will build it", exc_info=True)

    thread = threading.Thread(target=build, name="faq-warm-up", daemon=True)
    thread.start()
    return thread


def set_service(service: Any) -> None:
    """Install a service built elsewhere (the action server factory, tests)."""
    global _service
    with _service_lock:
        _service = service


def _chosen_id(tracker: Tracker) -> int | None:
    latest = tracker.latest_message or {}
    if (latest.get("intent") or {}).get("name") != INTENT_CHOOSE_FAQ:
        return None
    value = next(tracker.get_latest_entity_values(ENTITY_FAQ_ID), None)
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _button(title: str, point_id: int) -> dict[str, str]:
    payload = "/" + INTENT_CHOOSE_FAQ + json.dumps({ENTITY_FAQ_ID: str(point_id)}, ensure_ascii=False)
    return {"title": title, "payload": payload}


class ActionAnswerFaq(Action):
    """Answer, offer the top 3, or say not sure + offer a human, by calibrated thresholds."""

    def name(self) -> str:
        return ACTION_ANSWER_FAQ

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        service = get_service()
        chosen = _chosen_id(tracker)
        if chosen is not None:
            match = await asyncio.to_thread(service.get, chosen)
            if match is None:
                dispatcher.utter_message(response="utter_faq_gone")
                return [SlotSet("faq_last_id", None)]
            dispatcher.utter_message(text=match.answer)
            return [SlotSet("faq_last_id", str(match.point_id))]

        text = (tracker.latest_message or {}).get("text") or ""
        decision = await asyncio.to_thread(service.decide, text, 3)
        if decision.kind == "answer":
            best = decision.matches[0]
            dispatcher.utter_message(text=best.answer)
            return [SlotSet("faq_last_id", str(best.point_id))]
        if decision.kind == "choose":
            buttons = [_button(m.standard_question, m.point_id) for m in decision.matches]
            buttons.append(FAQ_NONE_OF_THESE_BUTTON)
            dispatcher.utter_message(response="utter_faq_choose", buttons=buttons)
            return [SlotSet("faq_last_id", None)]
        dispatcher.utter_message(response="utter_faq_unsure")
        await record_gap(tracker, "faq_unsure")  # a knowledge gap for staff to close (#23)
        return [SlotSet("faq_last_id", None)]
