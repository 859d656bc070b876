"""Rasa's check of action-server responses, with a validator built once (rasa_ext.action_validation).

Runs in the Rasa venv (Python 3.10): every response Rasa's own ``jsonschema.validate`` accepts or
rejects is accepted or rejected the same way, with the same message, while the schema is checked
against the meta-schema once per process instead of once per action call (57 % of Rasa's CPU).
"""

from __future__ import annotations

import pytest

from tests.rasa_ext.rasa_probe import run_probe


@pytest.fixture(scope="module")
def probe() -> dict[str, object]:
    return run_probe("action_validation_probe.py")


def test_installed_when_rasa_loads_the_tracker_stores(probe: dict[str, object]) -> None:
    assert probe["installed"] is True
    assert probe["still_installed"] is True


def test_same_verdicts_and_messages_as_rasa(probe: dict[str, object]) -> None:
    original = probe["original"]
    assert isinstance(original, list)
    assert original.count("ok") == 4 and len(original) == 10  # the probe's cases still mean what they say
    assert all(o.startswith("invalid: ") and "custom-actions" in o for o in original if o != "ok")
    assert probe["patched"] == original + original


def test_schema_checked_once_not_per_call(probe: dict[str, object]) -> None:
    assert probe["meta_checks"] == 1
