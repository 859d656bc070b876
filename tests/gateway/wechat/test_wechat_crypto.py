"""Signature and AES vectors: WeChat's published sample, cross-checked against wechatpy."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import check_signature as wechatpy_check_signature

from gateway.wechat.crypto import CryptoError, MessageCrypto, check_signature, decode_aes_key, make_signature

# From WeChat's official WXBizMsgCrypt sample (also used by wechatpy's and other SDKs' tests).
SAMPLE_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_TOKEN = "spamtest"
SAMPLE_APPID = "wx2c2769f8efd9abc2"
SAMPLE_TIMESTAMP = "1409735669"
SAMPLE_NONCE = "1320562132"
SAMPLE_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFm"
    "OD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8d"
    "KOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5"
    "RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNP"
    "fUM669WuMyVWQLCzpu9GhglF2PE="
)


def test_published_msg_signature() -> None:
    assert make_signature(SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT) == SAMPLE_MSG_SIGNATURE
    assert check_signature(SAMPLE_MSG_SIGNATURE, SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT)
    assert not check_signature(SAMPLE_MSG_SIGNATURE, SAMPLE_TOKEN, SAMPLE_TIMESTAMP, "1320562133", SAMPLE_ENCRYPT)


def test_published_ciphertext_decrypts() -> None:
    plain = MessageCrypto(SAMPLE_KEY, SAMPLE_APPID).decrypt(SAMPLE_ENCRYPT).decode("utf-8")
    assert "<Content><![CDATA[abcdteT]]></Content>" in plain
    assert "<MsgId>6054768590064713728</MsgId>" in plain


def test_published_ciphertext_refuses_other_app_id() -> None:
    with pytest.raises(CryptoError, match="AppId"):
        MessageCrypto(SAMPLE_KEY, "wx0000000000000000").decrypt(SAMPLE_ENCRYPT)


@given(token=st.text(min_size=1, max_size=20), timestamp=st.from_regex(r"\A[0-9]{10}\Z"), nonce=st.text(min_size=1))
def test_signature_matches_wechatpy(token: str, timestamp: str, nonce: str) -> None:
    signature = make_signature(token, timestamp, nonce)
    wechatpy_check_signature(token, signature, timestamp, nonce)  # raises if different
    assert check_signature(signature, token, timestamp, nonce)
    assert not check_signature(signature[:-1] + ("0" if signature[-1] != "0" else "1"), token, timestamp, nonce)


@given(message=st.text(max_size=3000))
def test_roundtrip_with_wechatpy_both_ways(message: str) -> None:
    ours = MessageCrypto(SAMPLE_KEY, SAMPLE_APPID)
    theirs = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APPID)
    xml = f"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Content><![CDATA[{message}]]></Content></xml>"
    # ours -> wechatpy
    encrypted = ours.encrypt(xml)
    signature = make_signature(SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE, encrypted)
    envelope = f"<xml><ToUserName>gh_1</ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    assert theirs.decrypt_message(envelope, signature, SAMPLE_TIMESTAMP, SAMPLE_NONCE) == xml
    # wechatpy -> ours
    reply = theirs.encrypt_message(xml, SAMPLE_NONCE, SAMPLE_TIMESTAMP)
    start = reply.index("<Encrypt><![CDATA[") + len("<Encrypt><![CDATA[")
    their_encrypted = reply[start : reply.index("]]></Encrypt>")]
    assert ours.decrypt(their_encrypted).decode("utf-8") == xml


def test_fixed_prefix_gives_deterministic_layout() -> None:
    crypto = MessageCrypto(SAMPLE_KEY, SAMPLE_APPID)
    prefix = bytes(range(16))
    a = crypto.encrypt("你好", random_prefix=prefix)
    assert a == crypto.encrypt("你好", random_prefix=prefix)
    assert a != crypto.encrypt("你好")
    raw = base64.b64decode(a)
    assert len(raw) % 32 == 0  # WeChat pads to 32-byte blocks


@pytest.mark.parametrize(
    "bad",
    [
        "not base64!!",
        base64.b64encode(b"x" * 15).decode(),  # not a block multiple
        base64.b64encode(os.urandom(64)).decode(),  # random blocks: bad padding or length
        "",
    ],
)
def test_garbage_ciphertext_raises_crypto_error(bad: str) -> None:
    with pytest.raises(CryptoError):
        MessageCrypto(SAMPLE_KEY, SAMPLE_APPID).decrypt(bad)


@pytest.mark.parametrize("key", ["short", SAMPLE_KEY + "A", "!" * 43])
def test_bad_encoding_aes_key(key: str) -> None:
    with pytest.raises(CryptoError):
        decode_aes_key(key)


def test_non_ascii_signature_compares_false() -> None:
    assert not check_signature("签名", "token", "1", "2")
