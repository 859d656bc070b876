"""Running a probe script in the Rasa venv (Python 3.10), where rasa_ext lives, and reading its verdict."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"
HELPERS = Path(__file__).parent / "helpers"


def run_probe(script: str) -> Any:
    """The JSON the probe ``helpers/<script>`` prints last; skips (fails on CI) without the Rasa venv."""
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
        [str(RASA_PY), "-W", "ignore", str(HELPERS / script)],
        env=env, capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
