"""Validate action-server responses with a validator built once, not once per action call.

Rasa 3.6 checks every response of the action server with ``jsonschema.validate(result, schema)``.
That function first re-validates the *schema itself* against the JSON Schema 2020-12 meta-schema
and builds a new validator, on every call. Profiled with py-spy under ``bench.load`` (2026-11-30),
this was 57 % of the Rasa process's CPU time: more than NLU and dialogue policies together, and
the main reason Rasa saturated at about 44 messages/s on 2 cores.

``install()`` replaces ``RemoteAction._validate_action_result`` with the same check against a
validator built (and its schema checked) once per action class: the same schema, the same
``ValidationError`` (best match, with Rasa's hint appended), so an invalid response is still
rejected exactly as before. It is called when ``rasa_ext.tracker_stores`` is imported, which Rasa
does at start-up for the tracker store named in the endpoints file: the only hook the Rasa server
gives us without a custom graph component (which would change the model and force a retrain).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from jsonschema import exceptions, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

log = logging.getLogger(__name__)


@functools.cache
def _validator_for(action_class: type[RemoteAction]) -> Any:
    schema = action_class.action_response_format_spec()
    cls = validators.validator_for(schema)
    cls.check_schema(schema)  # once, as jsonschema.validate would on every call
    return cls(schema)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    # RemoteAction is Any where rasa is not installed (the app venv's mypy): not Hashable to it
    validator = _validator_for(type(self))  # type: ignore[arg-type,unused-ignore]
    error = exceptions.best_match(validator.iter_errors(result))
    if error is not None:
        error.message += (  # Rasa's own wording (rasa/core/actions/action.py)
            ". Failed to validate Action server response from API, "
            "make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


def install() -> None:
    """Idempotent: patch ``RemoteAction`` once per process."""
    if RemoteAction._validate_action_result is not _validate_action_result:
        RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
        log.debug("action-server responses validated with a prebuilt jsonschema validator")
