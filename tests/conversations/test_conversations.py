"""Conversation tests: `rasa test` replays tests/conversations/stories.yml against a trained model.

The model is the newest ``models/*.tar.gz`` that is newer than every domain/data/config file
(``make train`` makes it), or ``BANKCARE_RASA_MODEL``; otherwise one is trained into a temp dir
(a few minutes on 2 cores).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bankcare.settings import PROJECT_ROOT

RASA = PROJECT_ROOT / ".venv-rasa" / "bin" / "rasa"
STORIES = Path(__file__).with_name("stories.yml")
SOURCES = [
    PROJECT_ROOT / "config.yml",
    *(PROJECT_ROOT / "bot").rglob("*.yml"),
    *(PROJECT_ROOT / "nlu_data").rglob("*"),
]


def _model(tmp: Path) -> Path:
    given = os.environ.get("BANKCARE_RASA_MODEL")
    if given:
        return Path(given)
    newest_source = max(p.stat().st_mtime for p in SOURCES if p.is_file())
    models = sorted((PROJECT_ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if models and models[-1].stat().st_mtime > newest_source:
        return models[-1]
    subprocess.run(
        [
            str(RASA),
            "train",
            "--config",
            "config.yml",
            "--domain",
            "bot/domain",
            "--data",
            "nlu_data",
            "bot/data",
            "--out",
            str(tmp),
            "--fixed-model-name",
            "conversations",
        ],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        timeout=1800,
    )
    return tmp / "conversations.tar.gz"


def test_every_flow_as_a_conversation(tmp_path: Path) -> None:
    model = _model(tmp_path)
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
        env={**os.environ, "ACTIONS_URL": "http://127.0.0.1:9/webhook"},
    )
    failed = out / "failed_test_stories.yml"
    report = failed.read_text(encoding="utf-8") if failed.exists() else run.stderr[-3000:]
    assert run.returncode == 0, report
    assert "story:" not in (failed.read_text(encoding="utf-8") if failed.exists() else "")
    # Every story was really evaluated (a story Rasa could not read would otherwise pass silently).
    passed = (out / "successful_test_stories.yml").read_text(encoding="utf-8")
    assert passed.count("story:") == STORIES.read_text(encoding="utf-8").count("story:")
