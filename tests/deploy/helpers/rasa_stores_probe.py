"""Run with the Rasa venv (Python 3.10): two "Rasa instances" built from deploy/rasa/endpoints.yml.

Instance A saves a conversation with an active form and holds its lock; instance B, made from
the same endpoints file, must see the same events, slots and form, and must see the lock. The
conversation also answers the binding form's secret questions in two saves; the rows in the
tracker database must not hold those digits (the redacting store of rasa_ext).
Prints one JSON object; the pytest side asserts on it.
"""

import asyncio
import json
import sys
import uuid

from rasa.core.lock_store import LockStore
from rasa.core.tracker_store import TrackerStore
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

PHONE, CODE = "13912345678", "482913"

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [report_lost_card]
slots:
  card_tail:
    type: text
    mappings: [{type: from_text}]
  phone:
    type: text
    mappings: [{type: from_text}]
  otp_code:
    type: text
    mappings: [{type: from_text}]
forms:
  lost_card_form:
    required_slots: [card_tail]
"""
)


async def main(path: str) -> dict:
    endpoints = AvailableEndpoints.read_endpoints(path)
    store_a = TrackerStore.create(endpoints.tracker_store, DOMAIN)
    store_b = TrackerStore.create(endpoints.tracker_store, DOMAIN)
    locks_a = LockStore.create(endpoints.lock_store)
    locks_b = LockStore.create(endpoints.lock_store)
    sender = f"probe-{uuid.uuid4().hex}"

    tracker = DialogueStateTracker.from_events(
        sender,
        [
            UserUttered("我的卡丢了", {"name": "report_lost_card", "confidence": 0.99}),
            ActiveLoop("lost_card_form"),
            SlotSet("card_tail", "1234"),
            SlotSet("requested_slot", "phone"),
            UserUttered(PHONE, {"name": "inform", "confidence": 0.9}),
            SlotSet("phone", PHONE),
            SlotSet("requested_slot", "otp_code"),
        ],
        slots=DOMAIN.slots,
    )
    async with locks_a.lock(sender):
        await store_a.save(tracker)
        # The second save stores only the new events; the form context comes from the first.
        tracker.update(UserUttered(CODE, {"name": "inform", "confidence": 0.9}))
        tracker.update(SlotSet("otp_code", CODE))
        await store_a.save(tracker)
        seen_lock = locks_b.get_lock(sender)
        waiting_ticket = locks_b.issue_ticket(sender)
        locked_for_b = seen_lock is not None and seen_lock.is_locked(waiting_ticket)
    locks_b.cleanup(sender, waiting_ticket)
    restored = await store_b.retrieve(sender)
    sql = getattr(store_b, "_tracker_store", store_b)
    with sql.session_scope() as session:
        stored = [row.data for row in session.query(sql.SQLEvent).filter(sql.SQLEvent.sender_id == sender)]
    return {
        "stored_rows": len(stored),
        "secrets_stored": [s for s in (PHONE, CODE) if any(s in data for data in stored)],
        "tracker_store": type(store_b).__name__,
        "lock_store": type(locks_b).__name__,
        "action_url": endpoints.action.url if endpoints.action else None,
        "action_token": endpoints.action.token if endpoints.action else None,
        "found": restored is not None,
        "events": len(restored.events) if restored else 0,
        "active_loop": restored.active_loop_name if restored else None,
        "card_tail": restored.get_slot("card_tail") if restored else None,
        "locked_for_b": locked_for_b,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1]))))
