"""Redaction and structure of bankcare's logs, driven through the real logging machinery."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.logs import configure_logging, redact_text, unconfigure_logging

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
TO_ASCII = str.maketrans("０１２３４５６７８９", "0123456789")


@contextmanager
def captured(fmt: str = "json") -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """Configure logging into a buffer for the duration of one example."""
    stream = io.StringIO()
    configure_logging("testsvc", fmt, stream=stream)  # type: ignore[arg-type]
    logger = logging.getLogger("bankcare.test")
    try:
        yield logger, stream
    finally:
        unconfigure_logging()


def digits_only(text: str) -> str:
    """Output with separators removed, so '138 1234 5678' cannot hide as separate groups."""
    return re.sub(r"[ \-]", "", text.translate(TO_ASCII))


# -- generators for the customer data that must never reach a log ---------------------------------

digit = st.sampled_from("0123456789")


@st.composite
def phones(draw: st.DrawFn) -> tuple[str, str]:
    """(as written by the customer, canonical 11 digits)."""
    number = "1" + draw(st.sampled_from("3456789")) + "".join(draw(st.lists(digit, min_size=9, max_size=9)))
    style = draw(st.sampled_from(["plain", "dash", "space", "+86", "86", "fullwidth"]))
    written = {
        "plain": number,
        "dash": f"{number[:3]}-{number[3:7]}-{number[7:]}",
        "space": f"{number[:3]} {number[3:7]} {number[7:]}",
        "+86": f"+86 {number}",
        "86": f"86{number}",
        "fullwidth": number.translate(FULLWIDTH),
    }[style]
    return written, number


@st.composite
def id_numbers(draw: st.DrawFn) -> tuple[str, str]:
    body = "".join(draw(st.lists(digit, min_size=17, max_size=17)))
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True)) % 11]
    if draw(st.booleans()) and check == "X":
        check = "x"
    number = body + check
    return number, number.upper()


@st.composite
def card_numbers(draw: st.DrawFn) -> tuple[str, str]:
    number = "".join(draw(st.lists(digit, min_size=16, max_size=19)))
    if draw(st.booleans()):
        written = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    else:
        written = number
    return written, number


secrets = st.one_of(phones(), id_numbers(), card_numbers())
# Surrounding text: anything except decimal digits (a digit next to a number makes it another number).
filler = st.text(st.characters(blacklist_categories=("Nd", "Cs")), max_size=20)


def assert_absent(output: str, canonical: str) -> None:
    assert canonical not in digits_only(output).upper(), output


# -- property-based: no generated number survives, wherever it is put -----------------------------


@settings(max_examples=150, deadline=None)
@given(secret=secrets, before=filler, after=filler, fmt=st.sampled_from(["json", "text"]))
def test_number_in_message_is_masked(secret: tuple[str, str], before: str, after: str, fmt: str) -> None:
    written, canonical = secret
    with captured(fmt) as (logger, stream):
        logger.warning(before + written + after)
    assert_absent(stream.getvalue(), canonical)


@settings(max_examples=100, deadline=None)
@given(secret=secrets, before=filler)
def test_number_in_args_and_extra_is_masked(secret: tuple[str, str], before: str) -> None:
    written, canonical = secret
    with captured() as (logger, stream):
        logger.info("customer said %s", before + written)
        logger.info("lookup %(who)s", {"who": written})
        logger.info("event", extra={"note": written, "nested": {"items": [written]}})
    assert_absent(stream.getvalue(), canonical)


@settings(max_examples=100, deadline=None)
@given(secret=secrets, fmt=st.sampled_from(["json", "text"]))
def test_number_in_exception_traceback_is_masked(secret: tuple[str, str], fmt: str) -> None:
    written, canonical = secret
    with captured(fmt) as (logger, stream):
        try:
            raise ValueError(f"no customer with phone {written}")
        except ValueError:
            logger.exception("lookup failed for %s", written)
    out = stream.getvalue()
    assert "Traceback" in out and "ValueError" in out
    assert_absent(out, canonical)


@settings(max_examples=60, deadline=None)
@given(secret=secrets)
def test_handler_added_later_with_plain_formatter_is_masked(secret: tuple[str, str]) -> None:
    """A library that adds its own handler after start-up still sees only masked records."""
    written, canonical = secret
    late = io.StringIO()
    handler = logging.StreamHandler(late)
    handler.setFormatter(logging.Formatter("%(message)s %(note)s"))
    with captured() as (logger, _stream):
        other = logging.getLogger("thirdparty.lib")
        other.addHandler(handler)
        try:
            try:
                raise RuntimeError(written)
            except RuntimeError:
                other.error("boom %s", written, exc_info=True, extra={"note": written})
        finally:
            other.removeHandler(handler)
    assert "RuntimeError" in late.getvalue()
    assert_absent(late.getvalue(), canonical)


# -- sensitive field names and structure -----------------------------------------------------------


@pytest.mark.parametrize("field", ["balance", "amount", "phone", "id_number", "card_no"])
def test_sensitive_field_names_are_hidden_whatever_their_value(field: str) -> None:
    with captured() as (logger, stream):
        logger.info("account viewed", extra={field: 98765.43, "customer_ref": "C-12"})
    record = json.loads(stream.getvalue())
    assert record[field] == "***"
    assert record["customer_ref"] == "C-12"
    assert "98765" not in stream.getvalue()


def test_sensitive_keys_in_free_text_are_hidden() -> None:
    text = 'payload {"balance": 1234.56, "phone": "13900001111"} 余额：8,800.00元 amount=300'
    masked = redact_text(text)
    for leaked in ("1234.56", "13900001111", "8,800.00", "300"):
        assert leaked not in masked
    assert "余额" in masked


def test_json_lines_have_the_documented_fields() -> None:
    with captured("json") as (_logger, stream):
        logging.getLogger("gateway.wechat").warning(
            "收到消息 from %s", "openid-abc", extra={"channel": "wechat"}
        )
        logging.getLogger("gateway.wechat").error("second")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert first["level"] == "WARNING"
    assert first["service"] == "testsvc"
    assert first["logger"] == "gateway.wechat"
    assert first["msg"] == "收到消息 from openid-abc"
    assert first["channel"] == "wechat"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", first["ts"])
    assert json.loads(lines[1])["msg"] == "second"


def test_reconfiguring_does_not_duplicate_output() -> None:
    stream = io.StringIO()
    try:
        configure_logging("a", "json", stream=stream)
        configure_logging("a", "json", stream=stream)
        logging.getLogger("x").warning("once")
    finally:
        unconfigure_logging()
    assert stream.getvalue().count("once") == 1


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="json or text"):
        configure_logging("a", "xml")  # type: ignore[arg-type]


def test_ordinary_text_is_left_alone() -> None:
    text = "订单 2024-05-01 共 3 笔, 网点 0571, 工号 12345"
    assert redact_text(text) == text


def test_numbers_typed_with_dots_spaces_or_in_chinese_are_masked_in_logs() -> None:
    masked = redact_text("客户说 170.0015.0003 / 一三九 一二三四 五六七八 验证码 493 433")
    assert masked == "客户说 170****0003 / 139****5678 验证码 ******"


@pytest.mark.parametrize(
    ("line", "logged"),
    [
        ("我卡里还有三万二", "我卡里还有***"),
        ("卡上还剩8600块", "卡上还剩***块"),
        ("余额显示3.2万", "余额显示***"),
        ("我账户余额是58,230.50", "我账户余额是***"),
        ("存折上还有两万三千五", "存折上还有***"),
        ("卡里有四万多块钱", "卡里有***多块钱"),
        ("卡上有3张", "卡上有3张"),  # cards, not money
        ("卡里还有2天到期", "卡里还有2天到期"),
        ("转账50000元要手续费吗", "转账50000元要手续费吗"),  # an amount, no balance
    ],
)
def test_a_balance_the_customer_typed_is_not_logged(line: str, logged: str) -> None:
    from core.logs import redact_text

    assert redact_text(line) == logged
    assert redact_text(logged) == logged
