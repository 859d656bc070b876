"""Reviewed utterances as Rasa NLU training data (``nlu_data/reviewed/``) for the next training.

A reviewer gave each of them its right intent (``bankcare nlu review`` or ``/console/insights``);
utterances marked out of scope are not exported. Texts are stored masked, so the file is too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.orm import Session

from crm.access.insights import reviewed_examples

REPO_ROOT = Path(__file__).resolve().parent.parent
REVIEWED_DIR = REPO_ROOT / "nlu_data" / "reviewed"
REVIEWED_FILE = "reviewed.yml"


def render(examples: Sequence[tuple[str, str]]) -> str:
    """Rasa 3.x NLU YAML (``version: "3.1"``): one block per intent, each example once."""
    by_intent: dict[str, dict[str, None]] = defaultdict(dict)
    for intent, text in examples:
        line = " ".join(text.split())
        if line and intent:
            by_intent[intent][line] = None
    lines = ['version: "3.1"', "", "# 人工复核过的用户说法（bankcare nlu export-reviewed 生成，勿手工编辑）", "nlu:"]
    for intent in sorted(by_intent):
        lines.append(f"- intent: {intent}")
        lines.append("  examples: |")
        lines.extend(f"    - {text}" for text in by_intent[intent])
    if not by_intent:
        lines[-1] = "nlu: []"
    return "\n".join(lines) + "\n"


def export_reviewed(session: Session, directory: Path = REVIEWED_DIR) -> tuple[Path, int]:
    """Write every reviewed utterance; returns the file and how many examples it holds."""
    examples = reviewed_examples(session)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / REVIEWED_FILE
    path.write_text(render(examples), encoding="utf-8")
    return path, len({(i, " ".join(t.split())) for i, t in examples})
