"""Scam stories in customers' own words are recognised, with their scheme and whether money has left.

The cases (``antifraud_cases.tsv``) are written the way rural customers tell them, not from the rules;
the negatives are ordinary questions that share words with scams (转账, 验证码, 贷款, 客服, 儿子).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gateway.antifraud import _COMPILED, _FIRST, SCHEMES, detect, first_chars, normalise


def _read(name: str) -> list[list[str]]:
    return [
        line.split("\t")
        for line in Path(__file__).with_name(name).read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]


CASES = _read("antifraud_cases.tsv")
# The development set: every common type 国家反诈中心 publishes, in farmers', retirees', migrant workers',
# shop owners' and students' words (typos, homophones, traditional script, run-ons), and as many benign
# look-alikes. A story that fits two schemes lists both ("a|b").
MORE = _read("antifraud_more.tsv")


@pytest.mark.parametrize(("scheme", "money_left", "text"), CASES, ids=[c[2][:16] for c in CASES])
def test_case(scheme: str, money_left: str, text: str) -> None:
    alert = detect(text)
    if scheme == "none":
        assert alert is None, f"false alarm: {alert}"
    else:
        assert alert is not None, "scam not recognised"
        assert alert.scheme == scheme
        assert alert.money_left is (money_left == "1")


@pytest.mark.parametrize(("scheme", "money_left", "text"), MORE, ids=[c[2][:16] for c in MORE])
def test_more(scheme: str, money_left: str, text: str) -> None:
    alert = detect(text)
    if scheme == "none":
        assert alert is None, f"false alarm: {alert}"
    else:
        assert alert is not None, "scam not recognised"
        assert alert.scheme in scheme.split("|")
        assert alert.money_left is (money_left == "1")


def test_development_set_covers_every_scheme_with_as_many_look_alikes() -> None:
    frauds = [c for c in MORE if c[0] != "none"]
    assert len(frauds) >= 220 and len(MORE) - len(frauds) >= 220
    named = {s for c in frauds for s in c[0].split("|")}
    assert {s.code for s in SCHEMES} <= named


def test_every_scheme_label_reads_in_the_warning() -> None:
    for scheme in SCHEMES:
        assert scheme.label and "诈骗" not in scheme.label or scheme.code == "other"


def test_first_character_prefilter_never_hides_a_match() -> None:
    assert first_chars("(?:公安|警察|说(他|她)?是.{0,6}银行)") == frozenset("公警说")
    assert first_chars("(?:.{0,2}单|刷单)") is None and first_chars("(?:(我|俺)?转了|汇)") is None
    assert sum(first is not None for first in _FIRST.values()) > len(_FIRST) * 0.9
    for case in CASES + MORE:
        text = normalise(case[2])
        for name, first in _FIRST.items():
            if first is not None and _COMPILED[name].search(text):
                assert not first.isdisjoint(text), (name, case[2])


def test_fast_enough_for_every_message() -> None:
    texts = [c[2] for c in CASES + MORE]
    detect(texts[0])  # OpenCC's dictionaries load on first use
    start = time.perf_counter()
    for text in texts:
        detect(text)
    per_text = (time.perf_counter() - start) / len(texts)
    assert per_text < 1e-3, f"{per_text * 1e6:.0f} µs per text"
    longest = "".join(c[2] for c in MORE)[:2000]  # the longest message web chat accepts
    detect(longest)
    start = time.perf_counter()
    detect(longest)
    assert time.perf_counter() - start < 5e-3


def test_traditional_script_and_spacing() -> None:
    alert = detect("公 安 局 說 我 涉 嫌 洗 錢，讓我轉到安全賬戶")
    assert alert is not None and alert.scheme == "police_safe_account"


def test_enough_cases() -> None:
    schemes = {c[0] for c in CASES}
    assert len(CASES) >= 80 and len(schemes) >= 9
