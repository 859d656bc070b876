"""Conversation tests: `rasa test` replays tests/conversations/stories.yml against the trained model.

The model comes from the session fixture ``rasa_model`` (tests/conftest.py): trained once per
change of the training data and cached by its hash in models/, shared with the end-to-end tests.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from core.settings import PROJECT_ROOT

RASA = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"
STORIES = Path(__file__).with_name("stories.yml")


def test_every_flow_as_a_conversation(rasa_model: Path, tmp_path: Path) -> None:
    model = rasa_model
    out = tmp_path / "results"
    run = subprocess.run(
        [
            str(RASA),
            "test",
            "core",
            "--model",
            str(model),
            "--stories",
            str(STORIES),
            "--out",
            str(out),
            "--fail-on-prediction-errors",
            "--successes",
            "--endpoints",
            "bot/endpoints.yml",
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "ACTIONS_URL": "http://127.0.0.1:9/webhook", "ACTIONS_TOKEN": "unused"},
    )
    failed = out / "failed_test_stories.yml"
    report = failed.read_text(encoding="utf-8") if failed.exists() else run.stderr[-3000:]
    assert run.returncode == 0, report
    assert "story:" not in (failed.read_text(encoding="utf-8") if failed.exists() else "")
    # Every story was really evaluated (a story Rasa could not read would otherwise pass silently).
    passed = (out / "successful_test_stories.yml").read_text(encoding="utf-8")
    assert passed.count("story:") == STORIES.read_text(encoding="utf-8").count("story:")
