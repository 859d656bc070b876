"""Rasa's check of action-server responses, with a validator built once (rasa_ext.action_validation).

Runs in the Rasa venv (Python 3.10): every response Rasa's own ``jsonschema.validate`` accepts or
rejects is accepted or rejected the same way, with the same message, while the schema is checked
against the meta-schema once per process instead of once per action call (57 % of Rasa's CPU).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"
PROBE = Path(__file__).parent / "helpers" / "action_validation_probe.py"


@pytest.fixture(scope="module")
def probe() -> dict[str, object]:
    if not RASA_PY.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("Rasa venv .venv-rasa missing")
        pytest.skip("Rasa venv .venv-rasa missing")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": str(ROOT),
    }
    result = subprocess.run(
        [str(RASA_PY), "-W", "ignore", str(PROBE)], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


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
