"""What a stored conversation may keep of what the customer typed.

Rasa keeps every user message, its entities and every slot value in its tracker store. During
identity binding the customer types a phone number, the last six characters of an ID number and
an SMS code; none of these may stay in the store (PIPL; JR/T 0171). Before a tracker is stored:

* a user message that answers one of the secret questions (``requested_slot`` is a secret slot)
  is replaced whole, in its text, its parse data and its entity values;
* any other user message is masked as stored transcripts are (``core.masking.redact_customer_text``):
  it keeps its words but phone, ID, card and account numbers and codes are masked, and a message
  that is only a six-character answer (493433 typed outside the form) is hidden;
* a secret slot keeps only values without digits (placeholders such as 已提交) or values the
  action server sealed (encrypted with a key Rasa never sees, see ``actions/sealed.py``);
* any other text slot (a complaint, a left message) keeps its words with numbers masked.

Intents and entity *names* survive, so the dialogue policies see the same conversation.
Pure functions on Rasa's event dictionaries; applying them twice changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from core.masking import customer_masked_spans, redact_customer_text, redact_numbers

SECRET_SLOTS = frozenset({"phone", "id_last6", "otp_code"})
HIDDEN = "［已隐藏］"
RESETS = frozenset({"restart", "session_started", "reset_slots"})
SEALED_PREFIX = "sealed:"
CLIENT_ADDRESS = "client_address"  # message metadata set by the gateway (actions/binding.py)
_DIGIT = re.compile(r"\d")


def redact_events(events: list[dict[str, Any]], requested: Any = None) -> list[dict[str, Any]]:
    """Copies of ``events`` safe to store (see the module docstring).

    ``requested`` is the form's ``requested_slot`` before the first of ``events``.
    """
    out: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        if kind == "user":
            event = _redact_user(event, whole=requested in SECRET_SLOTS)
        elif kind == "slot":
            if event.get("name") == "requested_slot":
                requested = event.get("value")
            elif event.get("name") in SECRET_SLOTS:
                event = _redact_slot(event)
            elif isinstance(event.get("value"), str) and not event["value"].startswith(SEALED_PREFIX):
                # Free-text slots (a complaint, a left message) keep their words, numbers masked.
                event = {**event, "value": redact_numbers(event["value"])}
        elif kind in RESETS:
            requested = None
        out.append(event)
    return out


def _redact_user(event: dict[str, Any], whole: bool) -> dict[str, Any]:
    def clean(text: Any) -> Any:
        if not isinstance(text, str) or not text:
            return text
        return HIDDEN if whole else redact_customer_text(text)

    copy = dict(event)
    copy["text"] = clean(event.get("text"))
    metadata = event.get("metadata")
    if isinstance(metadata, dict) and CLIENT_ADDRESS in metadata:
        # The visitor's address served the OTP limits during the turn; the store does not need it.
        copy["metadata"] = {k: v for k, v in metadata.items() if k != CLIENT_ADDRESS}
    parse = event.get("parse_data")
    if isinstance(parse, dict):
        parse = dict(parse)
        original = parse.get("text")
        # Rasa splits "4101 2319 8001 0121 35" into card_tail 4101, 2319 ... entities: each piece
        # alone is no identifier, together they are the ID number the text now masks.
        hidden = customer_masked_spans(original) if isinstance(original, str) and not whole else []
        parse["text"] = clean(original)
        # An entity's value alone ("200000", an amount) is no whole message: only numbers masked.
        def clean_value(value: Any) -> Any:
            return HIDDEN if whole else redact_numbers(value) if isinstance(value, str) and value else value

        parse["entities"] = [_redact_entity(e, clean_value, hidden) for e in parse.get("entities") or []]
        copy["parse_data"] = parse
    return copy


def _redact_entity(entity: Any, clean: Any, hidden: list[tuple[int, int]]) -> Any:
    if not isinstance(entity, dict):
        return entity
    copy = dict(entity)
    start, end = copy.get("start"), copy.get("end")
    inside = isinstance(start, int) and isinstance(end, int) and any(start < e and s < end for s, e in hidden)
    for key in ("value", "text"):
        if key in copy:
            if inside:
                copy[key] = HIDDEN
            else:
                copy[key] = clean(copy[key]) if isinstance(copy[key], str) else copy[key]
    return copy


def _redact_slot(event: dict[str, Any]) -> dict[str, Any]:
    value = event.get("value")
    if value is None or not isinstance(value, str | int | float) or isinstance(value, bool):
        return event
    text = str(value)
    if text.startswith(SEALED_PREFIX) or not _DIGIT.search(text):
        return event
    return {**event, "value": HIDDEN}
