"""Traditional script is read as simplified by the bot and the FAQ matcher; the customer's text is not altered."""

from __future__ import annotations

import pytest

from core.chinese import to_simplified
from faq.text import normalise


@pytest.mark.parametrize(
    ("traditional", "simplified"),
    [
        ("請問銀行卡掛失怎麼辦", "请问银行卡挂失怎么办"),
        ("我的餘額還剩多少錢", "我的余额还剩多少钱"),
        ("貸款什麼時候還", "贷款什么时候还"),
        ("網點幾點關門", "网点几点关门"),
    ],
)
def test_traditional_becomes_simplified(traditional: str, simplified: str) -> None:
    assert to_simplified(traditional) == simplified


def test_simplified_and_ascii_pass_unchanged() -> None:
    for text in ("俺卡里还剩多少钱", "ok 123", "", "👍"):
        assert to_simplified(text) == text


def test_faq_reads_traditional_like_simplified() -> None:
    assert normalise("請問銀行卡掛失怎麼辦") == normalise("请问银行卡挂失怎么办")
