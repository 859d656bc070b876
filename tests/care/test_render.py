import datetime as dt
from decimal import Decimal

import pytest
from jinja2 import UndefinedError
from jinja2.exceptions import SecurityError

from care.render import (
    OPT_OUT_FOOTER,
    amount_zh,
    card_tail,
    date_zh,
    render,
    salutation,
)
from core.masking import mask_customer_name, surname


@pytest.mark.parametrize(
    ("name", "gender", "kind", "expected"),
    [
        ("张建华", "M", "个人", "张先生"),
        ("王芳", "F", "个人", "王女士"),
        ("欧阳明月", "F", "个人", "欧阳女士"),
        ("司马光", "M", "个体工商户", "司马先生"),
        ("城关镇丰收农机专业合作社", "M", "小微企业", "尊敬的客户"),
        ("李强", "X", "个人", "李强客户"),
    ],
)
def test_salutation(name, gender, kind, expected):
    assert salutation(name, gender, kind) == expected


def test_surname_does_not_treat_two_char_names_as_compound():
    assert surname("欧阳") == "欧"  # a two-character name is surname + given name


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张建华", "张*华"), ("李强", "李*"), ("欧阳明月", "欧阳*月"), ("诸葛孔明亮", "诸葛**亮")],
)
def test_mask_customer_name(name, masked):
    assert mask_customer_name(name) == masked
    assert render("{{ n | mask_name }}", {"n": name}, marketing=False) == masked


def test_formatting_helpers():
    assert card_tail("6230 1234 5678 9012") == "尾号9012"
    assert date_zh(dt.date(2026, 12, 3)) == "12月3日"
    assert date_zh(dt.date(2026, 12, 3), with_weekday=True) == "12月3日（周四）"
    assert amount_zh(Decimal("50000")) == "50,000.00元"


def test_marketing_gets_opt_out_footer_once_and_service_does_not():
    text = render("{{ s }}您好", {"s": "张先生"}, marketing=True)
    assert text.endswith(OPT_OUT_FOOTER) and text.count("退订") == 1
    assert render("{{ s }}您好", {"s": "张先生"}, marketing=False) == "张先生您好"


def test_strict_undefined_and_sandbox():
    with pytest.raises(UndefinedError):
        render("{{ missing }}", {}, marketing=False)
    with pytest.raises(SecurityError):
        render("{{ x.__class__.__mro__[1].__subclasses__() }}", {"x": 1}, marketing=False)
