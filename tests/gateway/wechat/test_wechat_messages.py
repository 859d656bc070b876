"""Parsing every fixture type, refusing unsafe XML, and the reply builders."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.chat_types import BotReply, Button
from gateway.wechat import convert
from gateway.wechat.messages import (
    ClickEvent,
    ImageMessage,
    LinkMessage,
    LocationEvent,
    LocationMessage,
    MessageParseError,
    OtherMessage,
    ScanEvent,
    SubscribeEvent,
    TextMessage,
    UnsubscribeEvent,
    VideoMessage,
    ViewEvent,
    VoiceMessage,
    build_text_reply,
    parse_message,
    parse_xml_fields,
)

from .conftest import FIXTURES, OPENID, fixture_xml

EXPECTED_TYPES = {
    "text__basic": TextMessage,
    "text__with_cdata_end": TextMessage,
    "text__number_choice": TextMessage,
    "image__basic": ImageMessage,
    "voice__with_recognition": VoiceMessage,
    "voice__without_recognition": VoiceMessage,
    "video__basic": VideoMessage,
    "shortvideo__basic": VideoMessage,
    "location__basic": LocationMessage,
    "link__basic": LinkMessage,
    "event_subscribe__plain": SubscribeEvent,
    "event_subscribe__qrscene": SubscribeEvent,
    "event_scan__rm_code": ScanEvent,
    "event_unsubscribe__basic": UnsubscribeEvent,
    "event_click__balance": ClickEvent,
    "event_click__unknown_key": ClickEvent,
    "event_view__basic": ViewEvent,
    "event_location__basic": LocationEvent,
    "event_templatesendjobfinish__success": OtherMessage,
}


def test_every_valid_fixture_is_covered() -> None:
    names = {p.stem for p in FIXTURES.glob("*.xml") if not p.stem.startswith("invalid__")}
    assert names == set(EXPECTED_TYPES)


@pytest.mark.parametrize(("name", "cls"), sorted(EXPECTED_TYPES.items()))
def test_fixture_parses_to_type(name: str, cls: type) -> None:
    msg = parse_message(fixture_xml(name).encode())
    assert type(msg) is cls
    assert msg.from_user == OPENID and msg.to_user == "gh_bankcare_test" and msg.create_time == 1718000000


def test_field_values() -> None:
    text = parse_message(fixture_xml("text__basic"))
    assert isinstance(text, TextMessage) and text.content == "你好，我想查一下余额"
    assert text.dedupe_key == f"msg:{OPENID}:24620000000000001"
    cdata = parse_message(fixture_xml("text__with_cdata_end"))
    assert isinstance(cdata, TextMessage) and cdata.content == "利率是多少]]>？"
    voice = parse_message(fixture_xml("voice__with_recognition"))
    assert isinstance(voice, VoiceMessage) and voice.recognition == "我的银行卡丢了"
    assert parse_message(fixture_xml("voice__without_recognition")).recognition is None  # type: ignore[attr-defined]
    loc = parse_message(fixture_xml("location__basic"))
    assert isinstance(loc, LocationMessage) and (loc.latitude, loc.longitude) == (30.274085, 120.15507)
    qr = parse_message(fixture_xml("event_subscribe__qrscene"))
    assert isinstance(qr, SubscribeEvent) and qr.scene == "RM0012"
    assert parse_message(fixture_xml("event_subscribe__plain")).scene is None  # type: ignore[attr-defined]
    click = parse_message(fixture_xml("event_click__balance"))
    assert isinstance(click, ClickEvent) and click.key == "MENU_BALANCE"
    assert click.dedupe_key == f"evt:{OPENID}:1718000000"
    assert parse_message(fixture_xml("shortvideo__basic")).msg_type == "shortvideo"


@pytest.mark.parametrize(
    "name",
    ["invalid__xxe", "invalid__billion_laughs", "invalid__malformed", "invalid__missing_msgid", "invalid__bad_root"],
)
def test_invalid_fixtures_refused(name: str) -> None:
    with pytest.raises(MessageParseError):
        parse_message(fixture_xml(name).encode())


@given(st.binary(max_size=2000))
def test_parse_random_bytes_only_raises_parse_error(data: bytes) -> None:
    try:
        parse_message(data)
    except MessageParseError:
        pass


@given(st.text(max_size=300))
def test_text_reply_roundtrips_any_content(content: str) -> None:
    content = "".join(ch for ch in content if ch.isprintable() or ch == "\n").strip()
    xml = build_text_reply(OPENID, "gh_bankcare_test", content, create_time=1)
    fields = parse_xml_fields(xml.encode())
    assert fields["Content"] == content and fields["ToUserName"] == OPENID and fields["MsgType"] == "text"


def test_dispatch_mapping() -> None:
    d = convert.to_dispatch(parse_message(fixture_xml("event_click__balance")))
    assert d.kind == "message" and d.inbound is not None and d.inbound.text == "/check_balance"
    d = convert.to_dispatch(parse_message(fixture_xml("location__basic")))
    assert d.inbound is not None and d.inbound.text == "/ask_branch" and d.inbound.location is not None
    assert d.inbound.location.label == "浙江省杭州市西湖区"
    d = convert.to_dispatch(parse_message(fixture_xml("voice__with_recognition")))
    assert d.inbound is not None and d.inbound.text == "我的银行卡丢了"
    for name in ("image__basic", "video__basic", "shortvideo__basic", "voice__without_recognition", "link__basic"):
        d = convert.to_dispatch(parse_message(fixture_xml(name)))
        assert d.kind == "fixed" and "您好" in d.fixed_text
    for name in ("event_view__basic", "event_templatesendjobfinish__success"):
        assert convert.to_dispatch(parse_message(fixture_xml(name))).kind == "ignore"


def test_buttons_render_as_numbered_lines() -> None:
    text, buttons = convert.render_replies(
        [BotReply("您好"), BotReply("请选择：", (Button("查询余额", "/check_balance"), Button("挂失", "/report_loss")))]
    )
    assert text == "您好\n\n请选择：\n\n回复 1：查询余额\n回复 2：挂失"
    assert [b.payload for b in buttons] == ["/check_balance", "/report_loss"]
    assert convert.choice_index("２") == 2 and convert.choice_index("1。") == 1
    assert convert.choice_index("1个") is None and convert.choice_index("") is None
