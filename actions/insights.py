"""Record what the bot could not answer into the voice-of-the-customer pool (#23).

Called from the FAQ action ("not sure") and the core fallback; the text is masked by
``crm.access.insights`` and Rasa's parse confidence is kept for intent review. Recording must
never cost the customer an answer: any failure is logged and swallowed.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from sqlalchemy.orm import Session

from actions.context import session_factory
from core.db import run_in_session

log = logging.getLogger(__name__)


def _parse(tracker: Tracker) -> tuple[str, str | None, float | None]:
    latest: dict[str, Any] = tracker.latest_message or {}
    intent = latest.get("intent") or {}
    confidence = intent.get("confidence")
    return (
        str(latest.get("text") or ""),
        str(intent.get("name")) if intent.get("name") else None,
        float(confidence) if isinstance(confidence, int | float) else None,
    )


async def record_gap(tracker: Tracker, source: str) -> None:
    """Put the customer's latest message into the pool of unanswered questions."""
    from crm.access.insights import record_unanswered

    text, intent, confidence = _parse(tracker)
    if not text.strip() or text.startswith("/"):
        return

    def work(session: Session) -> None:
        record_unanswered(session, text, source, sender_id=tracker.sender_id, intent=intent, confidence=confidence)

    try:
        await run_in_session(session_factory(), work)
    except Exception:  # noqa: BLE001 - the answer matters more than the statistics
        log.warning("insights: unanswered question not recorded", exc_info=True)
