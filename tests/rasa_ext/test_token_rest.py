"""Finding 6 of #19: Rasa's REST channel answers the gateway only (bot/credentials.yml → rasa_ext/token_rest.py).

``--auth-token`` covers Rasa's HTTP API but not the input channels; without this, anyone on the host
could post a WeChat customer's sender id and ``查余额`` to ``/webhooks/rest/webhook``. Runs in the
Rasa venv (Python 3.10) through a probe.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"
PROBE = Path(__file__).parent / "helpers" / "token_rest_probe.py"


@pytest.fixture(scope="module")
def probe() -> dict[str, dict[str, str]]:
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


def test_with_a_token_only_its_holder_gets_through(probe: dict[str, dict[str, str]]) -> None:
    guarded = probe["gateway-only-token"]
    assert (guarded["missing"], guarded["wrong"], guarded["right"]) == ("401", "401", "wechat:oVictim")


def test_the_url_stays_webhooks_rest(probe: dict[str, dict[str, str]]) -> None:
    assert probe["gateway-only-token"]["name"] == "rest" and probe["gateway-only-token"]["prefix"] == "rest"


def test_without_a_token_it_is_rasas_rest_channel(probe: dict[str, dict[str, str]]) -> None:
    assert probe["none"]["missing"] == probe["none"]["right"] == "wechat:oVictim"
