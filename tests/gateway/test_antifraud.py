"""Scam stories in customers' own words are recognised, with their scheme and whether money has left.

The cases (``antifraud_cases.tsv``) are written the way rural customers tell them, not from the rules;
the negatives are ordinary questions that share words with scams (转账, 验证码, 贷款, 客服, 儿子).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.antifraud import detect

CASES = [
    line.split("\t")
    for line in Path(__file__).with_name("antifraud_cases.tsv").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]


@pytest.mark.parametrize(("scheme", "money_left", "text"), CASES, ids=[c[2][:16] for c in CASES])
def test_case(scheme: str, money_left: str, text: str) -> None:
    alert = detect(text)
    if scheme == "none":
        assert alert is None, f"false alarm: {alert}"
    else:
        assert alert is not None, "scam not recognised"
        assert alert.scheme == scheme
        assert alert.money_left is (money_left == "1")


def test_traditional_script_and_spacing() -> None:
    alert = detect("公 安 局 說 我 涉 嫌 洗 錢，讓我轉到安全賬戶")
    assert alert is not None and alert.scheme == "police_safe_account"


def test_enough_cases() -> None:
    schemes = {c[0] for c in CASES}
    assert len(CASES) >= 80 and len(schemes) >= 9
