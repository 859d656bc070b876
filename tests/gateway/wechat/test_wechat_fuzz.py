"""Property-based fuzzing of the parse/decrypt path: every bad input → 4xx, nothing changes."""

from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from gateway.wechat.crypto import MessageCrypto, make_signature
from gateway.wechat.inbound import Rejected, verify_and_parse
from gateway.wechat.messages import render_xml
from gateway.wechat.settings import WeChatSettings

from .conftest import FakeChat, fixture_xml, signed_query, table_counts

Client = TestClient[Any, Any]

# XML-ish fragments so the fuzzer gets past the tokenizer often, not just random bytes.
xml_bits = st.sampled_from(
    ["<xml>", "</xml>", "<MsgType>", "</MsgType>", "<![CDATA[", "]]>", "text", "event", "<MsgId>", "</MsgId>",
     "<!DOCTYPE x [<!ENTITY e 'x'>]>", "&e;", "<ToUserName>", "</ToUserName>", "gh_bankcare_test", "123", "\x00", "é"]
)  # fmt: skip
xml_like = st.lists(xml_bits, max_size=30).map("".join).map(str.encode)
bodies = st.one_of(st.binary(max_size=600), xml_like)


@st.composite
def signed_garbage(draw: st.DrawFn, settings: WeChatSettings) -> tuple[dict[str, str], bytes]:
    """Correctly signed safe-mode requests whose ciphertext or plaintext is junk."""
    query = signed_query(settings, nonce=str(draw(st.integers(0, 10**9))))
    mode = draw(st.sampled_from(["random_b64", "encrypted_junk", "truncated"]))
    crypto = MessageCrypto(settings.encoding_aes_key, settings.app_id)
    if mode == "random_b64":
        encrypted = draw(st.text(alphabet="ABCDEFabcdef0123456789+/=", min_size=1, max_size=200))
    elif mode == "encrypted_junk":
        encrypted = crypto.encrypt(draw(bodies))
    else:
        full = crypto.encrypt(fixture_xml("text__basic"))
        encrypted = full[: draw(st.integers(0, len(full) - 1))] or "A"
    query.update(
        encrypt_type="aes", msg_signature=make_signature(settings.token, query["timestamp"], query["nonce"], encrypted)
    )
    return query, render_xml({"ToUserName": "gh_bankcare_test", "Encrypt": encrypted}).encode()


def test_verify_and_parse_rejects_unsigned_junk_purely(settings: WeChatSettings) -> None:
    crypto = MessageCrypto(settings.encoding_aes_key, settings.app_id)

    @given(body=bodies, query=st.dictionaries(st.sampled_from(
        ["timestamp", "nonce", "signature", "msg_signature", "encrypt_type"]), st.text(max_size=50)))  # fmt: skip
    def check(body: bytes, query: dict[str, str]) -> None:
        try:
            verify_and_parse(settings, crypto, query, body)
        except Rejected as exc:
            assert 400 <= exc.status < 500
        else:  # only possible with a valid signature, which random text cannot forge
            raise AssertionError("unsigned junk accepted")

    check()


def test_signed_junk_is_rejected_or_parsed_but_never_crashes(settings: WeChatSettings) -> None:
    crypto = MessageCrypto(settings.encoding_aes_key, settings.app_id)

    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        query, body = data.draw(signed_garbage(settings))
        try:
            verify_and_parse(settings, crypto, query, body, now=time.time())
        except Rejected as exc:
            assert 400 <= exc.status < 500

    check()


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_http_fuzz_every_bad_input_is_4xx_and_changes_nothing(
    data: st.DataObject, gateway: Client, settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]
) -> None:
    before = table_counts(factory)
    calls = chat.calls
    if data.draw(st.booleans()):
        query, body = data.draw(signed_garbage(settings))
    else:
        query, body = signed_query(settings, nonce=str(data.draw(st.integers(0, 10**9)))), data.draw(bodies)
    resp = await gateway.post("/wechat", params=query, data=body)
    assert 400 <= resp.status < 500
    assert chat.calls == calls and table_counts(factory) == before
