"""What the customer sees of an action's messages: domain responses filled in the way Rasa 3.6 does.

An action sends fixed wording by name (``utter_message(response="utter_x", name=value)``); Rasa looks
the response up in the domain, fills each ``{name}`` from the message's variables (and the slots),
and appends the action's own buttons to the response's. The action server's webhook only carries the
name, so the tests render it here, from the same ``bot/domain/*.yml`` files Rasa trains on. A blank
the action does not fill fails the test (Rasa would send the raw ``{name}`` to the customer).
"""

from __future__ import annotations

import functools
import re
from typing import Any

import yaml

from core.settings import PROJECT_ROOT

DOMAIN_DIR = PROJECT_ROOT / "bot" / "domain"
# Keys of an action-server message that are not variables of the response (rasa_sdk's utter_message).
MESSAGE_KEYS = frozenset(
    {"text", "buttons", "elements", "custom", "template", "response", "image", "attachment", "quick_replies"}
)


@functools.cache
def domain_responses() -> dict[str, list[dict[str, Any]]]:
    merged: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(DOMAIN_DIR.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name, variations in (data.get("responses") or {}).items():
            assert name not in merged, f"{name} is defined twice in bot/domain/"
            merged[name] = variations
    return merged


def fill(template: str, variables: dict[str, Any]) -> str:
    """rasa.core.nlg.interpolator.interpolate_text, except that a missing variable is an error."""
    return re.sub(r"{([^\n{}]+?)}", r"{0[\1]}", template).format(variables)


def response_text(name: str, **variables: Any) -> str:
    (variation,) = domain_responses()[name]  # one wording per response: what the tests expect is exact
    return fill(variation["text"], variables)


def render(message: dict[str, Any]) -> dict[str, Any]:
    """One action-server message as the customer gets it: text, buttons, custom payload."""
    name = message.get("response")
    if not name:
        return {"text": message.get("text") or "", "buttons": message.get("buttons") or [],
                "custom": message.get("custom")}  # fmt: skip
    variables = {k: v for k, v in message.items() if k not in MESSAGE_KEYS}
    (variation,) = domain_responses()[name]
    buttons = [{k: fill(str(v), variables) for k, v in b.items()} for b in variation.get("buttons") or []]
    return {
        "text": fill(variation["text"], variables),
        "buttons": buttons + (message.get("buttons") or []),
        "custom": message.get("custom"),
    }


def rendered(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every message of a webhook result, rendered (see ``render``)."""
    return [render(m) for m in result["responses"]]
