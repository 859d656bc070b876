from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.masking import format_yuan, mask_card, mask_id_number, mask_name, mask_phone

digits = st.text(alphabet="0123456789", min_size=16, max_size=19)


@given(digits)
def test_card_mask_keeps_only_last_four(number: str) -> None:
    masked = mask_card(number)
    assert masked == f"尾号{number[-4:]}"
    assert number[:-4] not in masked or len(number[:-4]) == 0


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_phone_mask_hides_middle_four(phone: str) -> None:
    masked = mask_phone(phone)
    assert masked == f"{phone[:3]}****{phone[-4:]}"
    assert phone not in masked


def test_phone_mask_hides_everything_when_not_a_mobile_number() -> None:
    assert mask_phone("12345") == "***********"


@given(st.text(alphabet="张王李赵刘陈杨黄周吴建华秀兰志强国栋", min_size=3, max_size=4))
def test_name_mask_keeps_first_and_last(name: str) -> None:
    masked = mask_name(name)
    assert masked[0] == name[0] and masked[-1] == name[-1]
    assert set(masked[1:-1]) == {"*"}


def test_short_names_and_ids() -> None:
    assert mask_name("张伟") == "张*"
    assert mask_name("") == "*"
    assert mask_id_number("411421196803124517") == "4114**********4517"
    assert mask_card("123") == "尾号****"


def test_format_yuan() -> None:
    assert format_yuan(Decimal("38652.4")) == "38,652.40元"


def test_customer_text_hides_bare_codes_and_id_tails_but_not_amounts() -> None:
    from core.masking import redact_customer_text

    assert redact_customer_text("482913") == "******"
    assert redact_customer_text(" 01123X ") == " ****** "
    assert redact_customer_text("验证码：482913") == "验证码：******"
    assert redact_customer_text("身份证后六位01123x") == "身份证后六位******"
    assert redact_customer_text("我想存100000元") == "我想存100000元"
    assert redact_customer_text("我手机号13912345678") == "我手机号139****5678"
    assert redact_customer_text("1234567") == "1234567"
    assert redact_customer_text("") == ""
