"""SMS_BACKEND picks the adapter; the sandbox backend is the real Tencent SDK against the sandbox."""

from __future__ import annotations

import pytest

from core.settings import ConfigError, Settings
from outbound.sms.aliyun import AliyunSms
from outbound.sms.config import make_sms_provider
from outbound.sms.sandbox.app import SmsSandbox
from outbound.sms.templates import TemplateBook
from outbound.sms.tencent import TencentSms


def test_sandbox_backend_sends_through_the_sandbox(sandbox: tuple[str, SmsSandbox], book: TemplateBook) -> None:
    provider = make_sms_provider(Settings(sms_backend="sandbox", sms_endpoint=sandbox[0]))
    assert isinstance(provider, TencentSms)
    (result,) = provider.send_batch(book.get("binding_code"), ["13800008001"], ["482913", "5"])
    assert result.outcome == "sent"
    assert sandbox[1].inboxes.messages("13800008001")[0].text.startswith("【XX农商银行】您的验证码为482913")


def test_real_backends_need_their_account() -> None:
    with pytest.raises(ConfigError, match="TENCENT_SMS_SECRET_ID"):
        make_sms_provider(Settings(sms_backend="tencent"))
    provider = make_sms_provider(
        Settings(sms_backend="aliyun", aliyun_access_key_id="LTAI", aliyun_access_key_secret="s",
                 aliyun_sms_sign_name="XX农商银行")
    )
    assert isinstance(provider, AliyunSms) and provider.max_batch == 1000


def test_provider_unreachable_is_retry(book: TemplateBook) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    tencent = make_sms_provider(Settings(sms_backend="sandbox", sms_endpoint=closed), timeout_s=2)
    aliyun = make_sms_provider(
        Settings(sms_backend="aliyun", aliyun_access_key_id="LTAI", aliyun_access_key_secret="s",
                 aliyun_sms_sign_name="XX农商银行", sms_endpoint=closed), timeout_s=2
    )
    for provider, code in ((tencent, "ClientNetworkError"), (aliyun, "NetworkError")):
        (result,) = provider.send_batch(book.get("birthday_greeting"), ["13800008101"], ["张先生", "城关支行"])
        assert (result.outcome, result.code) == ("retry", code)
