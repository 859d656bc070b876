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


def test_invisible_characters_are_not_read() -> None:
    """Probe: 转人工 with zero-width spaces was read as a transfer question, and a scam story with zero-width
    spaces between its characters was not recognised (both read through to_simplified)."""
    from gateway.antifraud import detect

    assert to_simplified("转\u200b人\u200b工") == "转人工"
    assert to_simplified("請\u2060問\u200d掛\ufeff失") == "请问挂失"
    story = "公安局的人打电话说俺涉嫌洗钱 让俺把钱转到安全账户"
    assert detect(story) is not None
    assert detect("\u200b".join(story)) is not None
