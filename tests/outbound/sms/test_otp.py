"""Binding codes through the provider (#22): the binding_code template via the real Tencent SDK
against the sandbox, the code never stored readable, the OTP limits still in front of it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_engine, make_sessionmaker, session_scope
from core.settings import ConfigError, Settings
from crm.migrate import upgrade
from crm.models import SmsOutbox
from crm.models.sms import SmsMessage
from crm.sms import OtpPolicy, OtpRefused, OtpSent, SandboxSmsSender, send_binding_code
from outbound.sms.config import SandboxAccount
from outbound.sms.otp import ProviderOtpSender, make_otp_sender
from outbound.sms.sandbox.app import SmsSandbox
from outbound.sms.tencent import TencentSms

PHONE = "13912345678"
T0 = dt.datetime(2027, 2, 6, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{tmp_path / 'otp.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_sessionmaker(engine)
    engine.dispose()


def test_code_goes_by_the_binding_template_and_is_never_stored(
    factory: sessionmaker[Session], sandbox: tuple[str, SmsSandbox], tencent: TencentSms
) -> None:
    _, box = sandbox
    sender = ProviderOtpSender(lambda: tencent)
    with session_scope(factory) as s:
        outcome = send_binding_code(s, sender, OtpPolicy(), phone=PHONE, identity_id=1, client_address=None,
                                    code="482913", now=T0)
        assert outcome == OtpSent()
        # The same phone at once again: refused by the OTP limits before any provider request.
        again = send_binding_code(s, sender, OtpPolicy(), phone=PHONE, identity_id=1, client_address=None,
                                  code="111111", now=T0)
        assert isinstance(again, OtpRefused)
    [received] = box.inboxes.messages(PHONE)
    assert received.text == "【XX农商银行】您的验证码为482913，5分钟内有效。如非本人操作，请忽略本短信。"
    assert received.template_key == "binding_code"
    with session_scope(factory) as s:
        stored = s.scalars(select(SmsOutbox.text)).one()
        assert "482913" not in stored and "******" in stored
        sms = s.scalars(select(SmsMessage)).one()
        assert (sms.status, sms.template_key, sms.phone) == ("sent", "binding_code", PHONE)
        assert sms.provider_message_id == received.message_id


def test_otp_sender_per_backend() -> None:
    assert isinstance(make_otp_sender(Settings()), SandboxSmsSender)  # the demo reads codes in sms-inbox
    with pytest.raises(ConfigError, match="TENCENT_SMS_SECRET_ID"):
        make_otp_sender(dataclasses.replace(Settings(), sms_backend="tencent"))
    configured = dataclasses.replace(
        Settings(), sms_backend="aliyun", aliyun_access_key_id="LTAIx", aliyun_access_key_secret="s",
        aliyun_sms_sign_name="XX农商银行",
    )
    assert isinstance(make_otp_sender(configured), ProviderOtpSender)


def test_binding_with_tencent_backend_pointed_at_the_sandbox_goes_through_the_real_sdk(
    factory: sessionmaker[Session], sandbox: tuple[str, SmsSandbox]
) -> None:
    """SMS_BACKEND=tencent with SMS_ENDPOINT at the sandbox: the settings path the action server
    takes (make_otp_sender), the Tencent SDK signing and sending the binding_code template."""
    url, box = sandbox
    account = SandboxAccount()
    settings = Settings.from_env({
        "SMS_BACKEND": "tencent", "SMS_ENDPOINT": url, "TENCENT_SMS_SECRET_ID": account.tencent_secret_id,
        "TENCENT_SMS_SECRET_KEY": account.tencent_secret_key, "TENCENT_SMS_SDK_APP_ID": account.tencent_sdk_app_id,
        "TENCENT_SMS_SIGN_NAME": "XX农商银行",
    })
    sender = make_otp_sender(settings)
    assert isinstance(sender, ProviderOtpSender)
    with session_scope(factory) as s:
        outcome = send_binding_code(s, sender, OtpPolicy(), phone=PHONE, identity_id=7, client_address=None,
                                    code="605118", now=T0)
    assert outcome == OtpSent()
    [received] = box.inboxes.messages(PHONE)
    assert received.template_key == "binding_code"
    assert "605118" in received.text and received.text.startswith("【XX农商银行】")
    with session_scope(factory) as s:
        sms = s.scalars(select(SmsMessage)).one()
        assert (sms.provider, sms.status) == ("tencent", "sent")
        assert "605118" not in s.scalars(select(SmsOutbox.text)).one()
