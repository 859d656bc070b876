"""Tracker stores that never keep phone, ID or SMS-code digits (see ``rasa_ext.redaction``).

Configured in ``bot/endpoints.yml`` (in memory, development) and ``deploy/rasa/endpoints.yml``
(SQL, production) as ``type: rasa_ext.tracker_stores.<Class>``. Rasa silently falls back to an
in-memory store when a custom type cannot be imported, so ``tests/e2e/test_privacy.py`` checks
through Rasa's HTTP API that redaction really happens.

The tracker in memory during a turn keeps the raw text (the forms and actions of that turn need
it); what is stored, and therefore what the next turn and the HTTP API see, is redacted.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore
from rasa.shared.core.events import Event, SlotSet
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_ext import action_validation, heap, log_redaction
from rasa_ext.redaction import RESETS, redact_events

log_redaction.install()  # Rasa's warnings quote customers' messages

# Rasa imports this module at start-up (the endpoints file names its tracker store): the hook for
# the response-validation fix, which is not about tracker stores (see rasa_ext.action_validation).
action_validation.install()


class RedactingInMemoryTrackerStore(InMemoryTrackerStore):
    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        dialogue = tracker.as_dialogue().as_dict()
        dialogue["events"] = redact_events(dialogue["events"])
        self.store[tracker.sender_id] = json.dumps(dialogue)
        heap.after_turn()


class RedactingSQLTrackerStore(SQLTrackerStore):
    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(tracker)
        heap.after_turn()

    def _additional_events(self, session: Any, tracker: DialogueStateTracker) -> Iterator[Event]:
        # Same slice as Rasa's own implementation; redaction needs the events before it for context.
        stored = self._event_query(session, tracker.sender_id, fetch_events_from_all_sessions=False).count()
        events = list(tracker.events)
        new = [e.as_dict() for e in itertools.islice(events, stored, len(events))]
        return (Event.from_parameters(d) for d in redact_events(new, _requested_slot(events[:stored])))


def _requested_slot(events: list[Event]) -> Any:
    """The form's ``requested_slot`` after ``events`` (cheap: no serialisation)."""
    requested: Any = None
    for event in events:
        if isinstance(event, SlotSet) and event.key == "requested_slot":
            requested = event.value
        elif event.type_name in RESETS:
            requested = None
    return requested
