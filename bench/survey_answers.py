"""Accuracy of the survey-answer parser (``care.survey_answers``) on the written test set.

The set (``tests/care/survey_answers.tsv``) was written from how customers talk, not from the
parser's rules; ``make bench-care`` prints this and writes it into its BENCHMARKS.md section.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.report import tsv_rows
from care.survey_answers import Refusal, read_answer

CASES = Path(__file__).resolve().parents[1] / "tests" / "care" / "survey_answers.tsv"
# Written without reading the parser or the written set; scored apart so it stays a blind measure.
BLIND = Path(__file__).resolve().parent / "data" / "survey_answers_blind.tsv"
BLIND_FIRST = "0.840 (236/281) on 2026-12-07, before the parser was fixed with it in view"


@dataclass(frozen=True)
class ParserAccuracy:
    cases: int
    correct: int
    by_expected: dict[str, tuple[int, int]]  # score | refuse | none -> (correct, cases)
    wrong: list[tuple[str, str, str, str]]  # scale, expected, text, got

    @property
    def accuracy(self) -> float:
        return self.correct / self.cases if self.cases else 0.0

    def line(self, label: str = "written") -> str:
        parts = ", ".join(f"{k} {c}/{n}" for k, (c, n) in sorted(self.by_expected.items()))
        return f"survey answer parser: {self.accuracy:.3f} on {self.cases} {label} answers ({parts})"


def _outcome(scale: str, text: str) -> str:
    answer = read_answer(text, scale)  # type: ignore[arg-type]
    if answer is None:
        return "none"
    if isinstance(answer, Refusal):
        return "refuse"
    return str(answer.value)


def measure(path: Path = CASES) -> ParserAccuracy:
    rows = [row for _n, row in tsv_rows(path.read_text(encoding="utf-8").splitlines())]
    seen: Counter[str] = Counter()
    right: Counter[str] = Counter()
    wrong = []
    for scale, want, text in rows:
        kind = want if want in ("none", "refuse") else "score"
        seen[kind] += 1
        got = _outcome(scale, text)
        if got == want:
            right[kind] += 1
        else:
            wrong.append((scale, want, text, got))
    by = {k: (right[k], n) for k, n in seen.items()}
    return ParserAccuracy(len(rows), sum(right.values()), by, wrong)


def markdown(result: ParserAccuracy, blind: ParserAccuracy | None = None) -> str:
    """The rows for the care section of BENCHMARKS.md (the blind set's row too when given)."""
    row = _row(result, "written set `tests/care/survey_answers.tsv`")
    if blind is not None:
        row += "\n" + _row(blind, f"blind set `bench/data/survey_answers_blind.tsv`; first score {BLIND_FIRST}")
    return row


def _row(result: ParserAccuracy, which: str) -> str:
    by = result.by_expected
    detail = "; ".join(
        f"{label} {by[k][0]}/{by[k][1]}"
        for k, label in (("score", "scores"), ("refuse", "refusals"), ("none", "not answers"))
        if k in by
    )
    missed = ", ".join(f"{t} ({s}: {w} → {g})" for s, w, t, g in result.wrong[:6]) or "none"
    return (
        f"| survey answer parser (`care.survey_answers`, {which}) |"
        f" **{result.accuracy:.3f}** on {result.cases} answers ({detail}); missed: {missed} | ≥ 0.95 |"
    )


if __name__ == "__main__":
    found = measure()
    print(found.line())
    unseen = measure(BLIND)
    print(unseen.line("blind"))
    for scale, want, text, got in unseen.wrong:
        print(f"  blind miss: {scale} {text!r}: want {want}, got {got}")
    print(markdown(found, unseen))
