"""Survey answers in customers' words: the written set (``survey_answers.tsv``) must be read at ≥ 0.95 accuracy,
and the things that must never go wrong (a question taken as a score, a refusal missed) never do."""

from __future__ import annotations

from pathlib import Path

from care.survey_answers import Refusal, Score, read_answer

CASES = [
    line.split("\t")
    for line in Path(__file__).with_name("survey_answers.tsv").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


def outcome(scale: str, text: str) -> str:
    answer = read_answer(text, scale)  # type: ignore[arg-type]
    if answer is None:
        return "none"
    if isinstance(answer, Refusal):
        return "refuse"
    assert isinstance(answer, Score)
    return str(answer.value)


def test_accuracy_on_the_written_set() -> None:
    assert len(CASES) >= 300
    wrong = [(scale, text, want, outcome(scale, text)) for scale, want, text in CASES if outcome(scale, text) != want]
    accuracy = 1 - len(wrong) / len(CASES)
    assert accuracy >= 0.95, f"accuracy {accuracy:.3f}; wrong: {wrong}"


def test_questions_are_never_scores_and_refusals_never_missed() -> None:
    for scale, want, text in CASES:
        got = outcome(scale, text)
        if want == "none":
            assert got == "none", (text, got)
        if want == "refuse":
            assert got == "refuse", (text, got)


def test_scores_stay_on_their_scale() -> None:
    assert outcome("csat", "10分") == "5"
    assert outcome("nps", "11分") == "none"
    assert outcome("csat", "😊") == "4" and outcome("nps", "😊") == "8"
