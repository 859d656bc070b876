"""BENCHMARKS.md sections are replaced as written: backslashes in a body stay text."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import report


def test_write_section_keeps_backslashes_and_other_sections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Fuzzing\n\nold body\n\n## Seed\n\nseed body\n", encoding="utf-8")
    monkeypatch.setattr(report, "BENCHMARKS", path)
    report.write_section("Fuzzing", "XML turns `\\r` into `\\n`; a group \\1 too.")
    text = path.read_text(encoding="utf-8")
    assert "XML turns `\\r` into `\\n`; a group \\1 too." in text
    assert "\r" not in text and "old body" not in text
    assert "## Seed\n\nseed body" in text
