"""The blind anti-fraud set parses, and the bench's scoring counts what it should."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest

from bench.antifraud import DATA, Case, load, parse, score


def test_the_blind_set_parses_with_enough_distinct_lines_of_each_kind() -> None:
    raw = [ln for ln in DATA.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]
    assert all(len(ln.split("\t")) == 4 for ln in raw)
    cases = load()
    assert len(cases) == len(raw)
    kinds = Counter(c.kind for c in cases)
    assert set(kinds) == {"fraud", "benign"}
    assert kinds["fraud"] >= 200 and kinds["benign"] >= 200
    texts = [c.text for c in cases]
    assert len(set(texts)) == len(texts), [t for t, n in Counter(texts).items() if n > 1]
    assert not any(c.money_left for c in cases if c.kind == "benign")
    assert any(c.money_left for c in cases if c.kind == "fraud")


@pytest.mark.parametrize("line", [
    "fraud\tpolice\t0",  # three fields
    "fraud\tpolice\t0\ta\tb",  # five
    "scam\tpolice\t0\t转到安全账户",  # unknown kind
    "fraud\tpolice\tyes\t转到安全账户",  # money_left not 0/1
    "benign\ttransfer\t1\t转账给儿子",  # benign with money gone
])
def test_bad_rows_are_refused(line: str) -> None:
    with pytest.raises(ValueError):
        parse(["# header", line])


@dataclass
class Alert:
    scheme: str
    money_left: bool


def test_score_counts_hits_misses_false_alarms_and_money_left() -> None:
    cases = parse([
        "# comment",
        "",
        "fraud\tpolice\t1\tA",  # detected, money_left right
        "fraud\tpolice\t0\tB",  # detected, money_left wrong
        "fraud\tprize\t0\tC",  # missed
        "benign\ttransfer\t0\tD",  # false alarm
        "benign\ttransfer\t0\tE",
        "benign\totp\t0\tF",
    ])
    answers = {"A": Alert("x", True), "B": Alert("x", True), "D": Alert("y", False)}
    s = score(cases, answers.get)
    assert (s.fraud, s.benign, s.detected, s.false_alarms, s.money_left_right) == (3, 3, 2, 1, 1)
    assert s.recall == pytest.approx(2 / 3)
    assert s.false_alarm_rate == pytest.approx(1 / 3)
    assert s.precision == pytest.approx(2 / 3)
    assert s.money_left_accuracy == pytest.approx(1 / 2)
    assert s.per_category == {"police": [2, 2], "prize": [0, 1]}
    assert s.per_benign_category == {"transfer": [1, 2], "otp": [0, 1]}
    assert s.misses == [Case("fraud", "prize", False, "C")]
    assert s.alarms == [(Case("benign", "transfer", False, "D"), "y")]
    assert [(c.text, p) for c, p in s.money_left_wrong] == [("B", True)]


def test_score_of_nothing_is_zero_not_an_error() -> None:
    s = score([], lambda _t: None)
    assert (s.recall, s.false_alarm_rate, s.precision, s.money_left_accuracy) == (0.0, 0.0, 0.0, 0.0)
