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


def test_the_verdict_first_wins_over_the_reason_that_follows() -> None:
    # the reason names 办/手续/存 (words of a question) or a grievance; the first words are the answer
    assert outcome("csat", "满意，手续办得挺快") == "4"
    assert outcome("csat", "满意 就是网点离家远不方便") == "4"
    assert outcome("csat", "非常不满意我去了三趟都没办好") == "1"
    assert outcome("nps", "很满意啊我在你们这存钱好多年了") == "10"
    # the rest may strengthen the verdict but never turn it
    assert outcome("csat", "满意满意特别满意") == "5"
    assert outcome("csat", "一般般吧手机银行不太好用") == "3"


def test_opt_out_words_and_acknowledgements() -> None:
    for text in ("TD", "td", "退订", "不要再发这个了", "拒绝", "不打分"):
        assert outcome("nps", text) == "refuse", text
    for text in ("好的知道了", "收到", "知道了"):
        assert outcome("csat", text) == "none", text


def test_banking_numerals_full_marks_and_input_slips() -> None:
    assert outcome("nps", "玖分") == "9"
    assert outcome("nps", "100分") == "10"
    assert outcome("csat", "一百分") == "5"
    assert outcome("csat", "很满易") == "5"
    assert outcome("csat", "挺满以的") == "4"
    assert outcome("csat", "巴适得板") == "5"
    assert outcome("csat", "没啥感觉 一般") == "3"


def test_a_verdict_word_opening_a_question_does_not_make_it_an_answer() -> None:
    for text in ("满意吗", "一般几点下班", "一般多久能到账", "还行不行啊", "满意，你们几点下班？", "不满意怎么投诉"):
        assert outcome("csat", text) == "none", text
