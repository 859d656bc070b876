"""Run in the Rasa venv: compare Rasa's own action-response check with rasa_ext's prebuilt one.

Prints one JSON line: the outcome of every case under both checks, how often the meta-schema
check ran for the patched one, and which function is installed after importing the tracker stores.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import ValidationError, validators
from rasa.core.actions.action import RemoteAction

CASES: list[Any] = [
    {},
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "card_tail", "value": "1234"}], "responses": [{"text": "您好"}]},
    {"events": [{"event": "active_loop", "name": "lost_card_form"}, {"event": "followup", "name": "x"}]},
    {"events": "not a list"},
    {"events": [{"no_event_key": 1}]},
    {"events": [{"event": "slot"}]},  # a slot event without a name
    {"responses": "hello"},
    {"responses": ["not an object"]},
    ["not", "an", "object"],
]


def outcomes() -> list[str]:
    action = RemoteAction("action_probe", None)
    out = []
    for case in CASES:
        try:
            out.append("ok" if action._validate_action_result(case) is True else "falsy")
        except ValidationError as exc:
            out.append("invalid: " + exc.message)
    return out


def main() -> None:
    original = outcomes()  # Rasa as shipped: nothing patched yet

    schema_cls = validators.validator_for(RemoteAction.action_response_format_spec())
    checks = {"n": 0}
    real_check = schema_cls.check_schema.__func__

    def counting_check(cls: Any, schema: Any, *args: Any, **kwargs: Any) -> None:
        checks["n"] += 1
        real_check(cls, schema, *args, **kwargs)

    schema_cls.check_schema = classmethod(counting_check)

    import rasa_ext.tracker_stores  # noqa: F401  - installs the prebuilt check, as `rasa run` does
    from rasa_ext import action_validation

    installed = RemoteAction._validate_action_result is action_validation._validate_action_result
    patched = outcomes() + outcomes()  # twice: the schema must still be checked only once
    action_validation.install()  # idempotent
    print(json.dumps({"original": original, "patched": patched, "meta_checks": checks["n"],
                      "installed": installed, "still_installed": RemoteAction._validate_action_result
                      is action_validation._validate_action_result}, ensure_ascii=False))


if __name__ == "__main__":
    main()
