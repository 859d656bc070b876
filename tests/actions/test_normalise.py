"""How the actions read customer wording: typos, amounts, deposit terms, the part of the day (#20)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from actions.normalise import amount_in, mentions, normalise, term_months_in, visit_period


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("代款啥时候换", "贷款啥时候换"), ("查一下于额", "查一下余额"), ("要挂是", "要挂失"), ("到账了木有", "到账了没有")],
)
def test_typos_and_homophones(typed: str, meant: str) -> None:
    assert normalise(typed) == meant


@pytest.mark.parametrize(
    ("text", "amount", "months"),
    [
        ("一年定期存一万 利息多少", Decimal(10000), 12),
        ("5万存三年", Decimal(50000), 36),
        ("3000块存半年", Decimal(3000), 6),
        ("俺有八万存两年给多少息", Decimal(80000), 24),
        ("存十万五年利息多少钱", Decimal(100000), 60),
        ("三个月的定期利率", None, 3),
        ("定期利率多少", None, None),
    ],
)
def test_amount_and_term(text: str, amount: Decimal | None, months: int | None) -> None:
    assert amount_in(text) == amount
    assert term_months_in(text) == months


def test_part_of_the_day() -> None:
    assert visit_period("明天上午") == "上午"
    assert visit_period("后天下午3点") == "15"
    assert visit_period("九点去") == "9"
    assert visit_period("明天") is None


def test_mentions_reads_through_typos() -> None:
    assert mentions("代款多少", "贷款")
