from __future__ import annotations

from decimal import Decimal

import pytest
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


# --- one digit normaliser in front of every detector (issue #19, finding 3) ---------------------

from core.masking import CHINESE_DIGITS, ascii_digits, redact_customer_text, redact_numbers  # noqa: E402

FULL_WIDTH = {str(d): chr(0xFF10 + d) for d in range(10)}
CHINESE = {d: [c for c, v in CHINESE_DIGITS.items() if v == d] for d in "0123456789"}
SEPARATORS = [" ", ".", "-", "/", "\u3000", "\uff0e", "\uff0d", "\uff0f", " - ",
              "\u00a0", "\u2009", "\u3002", "~", "\uff5e"]  # no-break/thin space, 。 of Chinese IMEs, tildes
# Sentence filler: Chinese characters and punctuation, never a digit (Chinese digits included).
FILLER = st.text(
    alphabet=st.sampled_from(list("我的手机号码请帮忙查一下谢谢您好存款贷款网点明天上午电话，。！")).filter(
        lambda c: c not in CHINESE_DIGITS
    ),
    max_size=8,
)


@st.composite
def typed(draw: st.DrawFn, digits: str, one_kind: bool = False) -> str:
    """``digits`` as a customer might type them: each digit ASCII, full-width or Chinese, with
    random separators (of one kind when ``one_kind``) between some of them."""
    kind = draw(st.sampled_from(SEPARATORS))
    out = []
    for i, d in enumerate(digits):
        if i and draw(st.integers(0, 3)) == 0:
            out.append(kind if one_kind else draw(st.sampled_from(SEPARATORS)))
        script = draw(st.sampled_from(["ascii", "full", "chinese"]))
        if d == "X":
            out.append(draw(st.sampled_from(["X", "x", "\uff38"])))
        elif script == "ascii":
            out.append(d)
        elif script == "full":
            out.append(FULL_WIDTH[d])
        else:
            out.append(draw(st.sampled_from(CHINESE[d])))
    return "".join(out)


def _id_number(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


phones = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
ids = st.from_regex(r"[1-6][0-9]{16}", fullmatch=True).map(_id_number)
cards = st.from_regex(r"[3-9][0-9]{15,18}", fullmatch=True)
codes = st.from_regex(r"[0-9]{6}|[0-9]{5}X", fullmatch=True)


@given(phones, FILLER, FILLER, st.data())
def test_no_phone_digits_survive_whatever_the_format(phone: str, before: str, after: str, data: st.DataObject) -> None:
    text = before + data.draw(typed(phone)) + after
    assert ascii_digits(redact_customer_text(text)) == phone[:3] + phone[-4:]
    assert ascii_digits(redact_numbers(text)) == phone[:3] + phone[-4:]


@given(ids, FILLER, FILLER, st.data())
def test_no_id_digits_survive_whatever_the_format(id_number: str, before: str, after: str, data: st.DataObject) -> None:
    text = before + "身份证" + data.draw(typed(id_number)) + after
    kept = ascii_digits(redact_numbers(text))
    assert kept == ascii_digits(id_number[-4:])


@given(cards, FILLER, FILLER, st.data())
def test_no_card_digits_survive_whatever_the_format(card: str, before: str, after: str, data: st.DataObject) -> None:
    text = before + "卡号" + data.draw(typed(card, one_kind=True)) + after
    assert ascii_digits(redact_numbers(text)) in (card[-4:], card[-4:][-3:])  # 尾号1234 or 证件尾号123X


@given(
    codes,
    FILLER,
    FILLER,
    st.sampled_from(["验证码", "验证码是", "校验码：", "身份证后六位", "身份证号后6位 ", "后六位为"]),
    st.data(),
)
def test_no_code_digits_survive_after_the_words_that_announce_them(
    code: str, before: str, after: str, announce: str, data: st.DataObject
) -> None:
    text = before + announce + data.draw(typed(code)) + after
    words = ascii_digits(announce)  # 后六位 / 后6位 bring a digit of their own
    assert ascii_digits(redact_numbers(text)) == words
    assert ascii_digits(redact_customer_text(text)) == words


@given(codes, st.data())
def test_a_message_that_is_only_a_code_is_hidden(code: str, data: st.DataObject) -> None:
    assert ascii_digits(redact_customer_text(data.draw(typed(code)) + "。")) == ""


@given(
    st.lists(
        st.sampled_from(["500元", "2024年3月5日", "10:30", "3.5%", "2万", "第3期", "共12期", "0571", "两个人"]),
        max_size=6,
    ),
    st.sampled_from(["，", "。", "然后", "，共", "；"]),
)
def test_ordinary_numbers_stay_as_typed(parts: list[str], joiner: str) -> None:
    text = joiner.join(parts)
    assert redact_customer_text(text) == text


@pytest.mark.parametrize(
    ("typed_text", "stored"),
    [
        ("170.0015.0003", "170****0003"),
        ("身份证后六位 2135 11", "身份证后六位 ******"),
        ("验证码 493 433", "验证码 ******"),
        ("一七零 零零一五 零零零三", "170****0003"),
        ("我的手机 １３９－１２３４－５６７８，明天回电", "我的手机 139****5678，明天回电"),
        ("幺三九 幺二三四 五六七八", "139****5678"),
        ("493 433", "******"),
        ("我想存100000元", "我想存100000元"),
        ("2024年3月5日下午3点，存了500元", "2024年3月5日下午3点，存了500元"),
        ("订单 2024-05-01 共 3 笔", "订单 2024-05-01 共 3 笔"),
        ("2024.3.5", "2024.3.5"),
        ("10.0.0.1 192.168.100.200", "10.0.0.1 192.168.100.200"),
    ],
)
def test_the_formats_from_the_penetration_test(typed_text: str, stored: str) -> None:
    assert redact_customer_text(typed_text) == stored


@pytest.mark.parametrize(
    ("typed_text", "stored"),
    [
        ("170。0015。0003", "170****0003"),  # a dot typed in a Chinese input method
        ("170\u00a00015\u00a00003", "170****0003"),  # no-break spaces from copy-paste
        ("电话170～0015～0003谢谢", "电话170****0003谢谢"),
        ("170~0015~0003", "170****0003"),
        ("（170）0015-0003", "（170****0003"),
        ("验证码 493\u00a0433", "验证码 ******"),
        ("2024。3。5", "2024。3。5"),
        ("余额5000。还有", "余额5000。还有"),
    ],
)
def test_the_formats_a_second_probe_found(typed_text: str, stored: str) -> None:
    assert redact_customer_text(typed_text) == stored


def test_masking_is_idempotent_on_the_examples() -> None:
    for text in ("170.0015.0003", "验证码 493 433", "卡号6217991234567890123 和 13912345678 500元"):
        once = redact_customer_text(text)
        assert redact_customer_text(once) == once



def test_amounts_and_timestamps_in_logs_are_left_alone() -> None:
    line = "request 550e8400-e29b-41d4-a716-4466554400ab took 12.5 ms at 1733540000.123456 from 10.0.0.1"
    assert redact_numbers(line) == line


# --- invisible characters between the digits (third probe) ---------------------------------------

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\ufeff", "\u200e", "\u200f", "\u202c", "\ufe0f",
             "\u180e", "\u2063"]  # zero-width space/joiners, word joiner, soft hyphen, BOM, marks, selectors


@st.composite
def hidden(draw: st.DrawFn, digits: str) -> str:
    """``digits`` with up to five invisible characters after any of them (it looks whole on screen)."""
    out = []
    for d in digits:
        out.append(d)
        out.extend(draw(st.lists(st.sampled_from(INVISIBLE), max_size=5)))
    return "".join(out)


@given(phones, cards, ids, FILLER, st.data())
def test_invisible_characters_hide_no_number(
    phone: str, card: str, id_number: str, filler: str, data: st.DataObject
) -> None:
    """Probe: a card number with a word joiner, soft hyphen, BOM and ZWJ between its digits was stored
    and shown to RMs whole (the first case of ``test_the_formats_a_third_probe_found``)."""
    assert ascii_digits(redact_numbers(filler + data.draw(hidden(phone)))) == phone[:3] + phone[-4:]
    assert ascii_digits(redact_numbers("卡号" + data.draw(hidden(card)) + filler)) == card[-4:]
    assert ascii_digits(redact_numbers("身份证" + data.draw(hidden(id_number)))) == ascii_digits(id_number[-4:])


@pytest.mark.parametrize(
    ("typed_text", "stored"),
    [
        ("卡号6\u2060217\u00ad0000\ufeff1234\u200d5678901", "卡号尾号8901"),
        ("电话170\u200d0015\u200d0003", "电话170****0003"),
        ("验证码4\u20609\u200d3433", "验证码******"),
        ("2024\u200b年3月5日", "2024\u200b年3月5日"),
    ],
)
def test_the_formats_a_third_probe_found(typed_text: str, stored: str) -> None:
    assert redact_customer_text(typed_text) == stored


# --- gaps a blind test found (bench/data/pii_blind.tsv, make bench-pii) ----------------------------

# Filler without the words that mark a number the bank publishes (支行, 网点, 客服 …).
PLAIN = st.text(alphabet=st.sampled_from(list("我的家里明天上午请帮忙谢谢您好，")), max_size=6)
areas = st.sampled_from(["010", "021", "027", "0371", "0394", "0379", "0755", "0551"])


@st.composite
def landlines(draw: st.DrawFn) -> tuple[str, str]:
    area = draw(areas)
    size = 8 if len(area) == 3 else draw(st.sampled_from([7, 8]))
    local = draw(st.from_regex(rf"[2-8][0-9]{{{size - 1}}}", fullmatch=True))
    return area, local


@given(landlines(), PLAIN, PLAIN, st.sampled_from(["-", " ", "", "—", "－", ")", "）"]), st.data())
def test_no_landline_digits_survive(
    number: tuple[str, str], before: str, after: str, sep: str, data: st.DataObject
) -> None:
    area, local = number
    opening = {")": "(", "）": "（"}.get(sep, "")
    text = before + "座机" + opening + data.draw(typed(area, one_kind=True)) + sep + data.draw(typed(local)) + after
    for masked in (redact_numbers(text), redact_customer_text(text)):
        assert ascii_digits(masked) == area + local[-4:]


@given(landlines(), st.sampled_from(["支行电话", "网点电话是", "分理处座机", "客服热线"]))
def test_numbers_the_bank_publishes_stay(number: tuple[str, str], words: str) -> None:
    area, local = number
    for text in (f"{words}{area}-{local}", "拨打95588", "400-888-9588", "打96110报警"):
        assert redact_customer_text(text) == text


@given(
    st.from_regex(r"[1-79][0-9]{11,13}|[1-9][0-9]{19,22}", fullmatch=True),  # 86… is +86 and a mobile
    st.sampled_from(["账号", "存折账号", "收款账号：", "转到对公账户", "贷款账号 "]),
    st.sampled_from(["", " ", "\u00a0"]),
    PLAIN,
)
def test_long_account_numbers_keep_only_the_last_four(number: str, words: str, sep: str, after: str) -> None:
    grouped = sep.join(number[i : i + 4] for i in range(0, len(number), 4)) if sep else number
    masked = redact_numbers(words + grouped + after)
    assert ascii_digits(masked) == number[-4:]


@given(
    st.from_regex(r"(19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9])[0-9]{6}", fullmatch=True),
    st.sampled_from(["GS", "YY", "TS"]),
)
def test_the_banks_own_references_and_dates_stay(digits: str, prefix: str) -> None:
    for text in (f"工单号{prefix}{digits}进度", f"{digits[:8]}到期", f"{digits[:12]}"):
        assert redact_customer_text(text) == text


@given(phones, st.sampled_from([(3, 4, 4), (3, 8), (7, 4)]), st.data())
def test_a_mobile_number_split_over_words_is_masked(phone: str, split: tuple[int, ...], data: st.DataObject) -> None:
    words = st.sampled_from(["，", " 就是", "、", "然后", "嗯", "，后面是", "，中间"])
    parts, pos = [], 0
    for size in split:
        parts.append(phone[pos : pos + size])
        pos += size
    text = "我电话" + "".join(p + (data.draw(words) if k < len(parts) - 1 else "") for k, p in enumerate(parts))
    assert ascii_digits(redact_numbers(text)) == phone[:3] + phone[-4:]


@given(
    st.from_regex(r"[0-9]{4,6}", fullmatch=True),
    st.sampled_from(["码是", "码 ", "动态码", "动态口令", "激活码", "code ", "CODE:", "验证码 ", "密码"]),
    PLAIN,
    st.data(),
)
def test_codes_after_any_word_announcing_them(code: str, announce: str, after: str, data: st.DataObject) -> None:
    text = announce + data.draw(typed(code)) + "，" + after
    assert ascii_digits(redact_customer_text(text)) == ""


@given(codes.filter(lambda c: c[-1] != "X"), st.sampled_from(["是验证码", "这个码要填哪", "，是验证码吧", "，这是验证码"]))
def test_codes_followed_by_the_words_that_name_them(code: str, words: str) -> None:
    assert ascii_digits(redact_customer_text("刚收到" + code + words)) == ""


@pytest.mark.parametrize(
    ("typed_text", "stored"),
    [
        ("我家座机（0371）63456789", "我家座机（0371-****6789"),
        ("留个座机 区号029号码59466833", "留个座机 区号029号码****6833"),
        ("家里座机 6345 6789", "家里座机 ****6789"),
        ("0086 13912345678", "139****5678"),
        ("卡号前面是623009，后面875214，最后8126259", "卡号前面是******，后面******，最后***6259"),
        ("往账号246466455916汇了两万", "往账号尾号5916汇了两万"),
        ("支行电话0394-3201800打不通", "支行电话0394-3201800打不通"),
        ("工单号GS20261207123456进度怎么样", "工单号GS20261207123456进度怎么样"),
        ("我要转账5000，验证码收不到", "我要转账5000，验证码收不到"),
        ("取200000，验证码收不到", "取200000，验证码收不到"),
        ("100 200 300 400", "100 200 300 400"),
        ("1733540000.25元", "1733540000.25元"),
        ("账号201507123456", "账号尾号3456"),  # date-shaped, but after 账号
        ("202612071030", "202612071030"),
    ],
)
def test_the_formats_the_blind_set_found(typed_text: str, stored: str) -> None:
    assert redact_customer_text(typed_text) == stored
    assert redact_customer_text(stored) == stored
