"""Which SMS provider to use (``SMS_BACKEND``) and with which account.

``sandbox`` is Tencent Cloud's API served by ``bankcare sms-sandbox`` on this machine: the real
SDK, the real request signing, the sandbox's development account below. ``tencent`` and
``aliyun`` need the provider account from the environment (``bankcare check-config`` says what is
missing); ``SMS_ENDPOINT`` still overrides where the SDK connects, e.g. to test a real backend's
settings against the sandbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import ConfigError, Settings
from outbound.sms.aliyun import AliyunSms
from outbound.sms.results import SmsProvider
from outbound.sms.templates import load_templates
from outbound.sms.tencent import TencentSms

SANDBOX_PORT = 8091
SANDBOX_ENDPOINT = f"http://127.0.0.1:{SANDBOX_PORT}"


@dataclass(frozen=True)
class SandboxAccount:
    """The development account the sandbox accepts (its copy of the secrets)."""

    tencent_secret_id: str = "AKIDbankcaresandbox0000000000000000"  # noqa: S105
    tencent_secret_key: str = "bankcare-sms-sandbox-tencent-key"  # noqa: S105
    tencent_sdk_app_id: str = "1400000001"
    aliyun_access_key_id: str = "LTAIbankcaresandbox00000"
    aliyun_access_key_secret: str = "bankcare-sms-sandbox-aliyun-secret"  # noqa: S105


def sandbox_account(settings: Settings) -> SandboxAccount:
    """The sandbox's account: the configured credentials where set (so a real backend's settings
    can be tested against it), the development ones otherwise."""
    dev = SandboxAccount()
    return SandboxAccount(
        tencent_secret_id=settings.tencent_sms_secret_id or dev.tencent_secret_id,
        tencent_secret_key=settings.tencent_sms_secret_key or dev.tencent_secret_key,
        tencent_sdk_app_id=settings.tencent_sms_sdk_app_id or dev.tencent_sdk_app_id,
        aliyun_access_key_id=settings.aliyun_access_key_id or dev.aliyun_access_key_id,
        aliyun_access_key_secret=settings.aliyun_access_key_secret or dev.aliyun_access_key_secret,
    )


def missing_credentials(settings: Settings) -> list[str]:
    """Environment variables the chosen backend needs and lacks (none for the sandbox)."""
    needed = {
        "tencent": ("tencent_sms_secret_id", "tencent_sms_secret_key", "tencent_sms_sdk_app_id",
                    "tencent_sms_sign_name", "tencent_sms_region"),
        "aliyun": ("aliyun_access_key_id", "aliyun_access_key_secret", "aliyun_sms_sign_name"),
    }.get(settings.sms_backend, ())
    return [name.upper() for name in needed if not str(getattr(settings, name)).strip()]


def make_sms_provider(settings: Settings, *, timeout_s: int = 10) -> SmsProvider:
    """The provider adapter for ``SMS_BACKEND``; ConfigError when its account is incomplete."""
    missing = missing_credentials(settings)
    if missing:
        raise ConfigError(f"SMS_BACKEND={settings.sms_backend} 需要设置 {', '.join(missing)}")
    signature = load_templates().signature
    if settings.sms_backend == "aliyun":
        return AliyunSms(
            access_key_id=settings.aliyun_access_key_id,
            access_key_secret=settings.aliyun_access_key_secret,
            sign_name=settings.aliyun_sms_sign_name,
            endpoint=settings.sms_endpoint,
            timeout_s=timeout_s,
        )
    if settings.sms_backend == "tencent":
        return TencentSms(
            secret_id=settings.tencent_sms_secret_id,
            secret_key=settings.tencent_sms_secret_key,
            sdk_app_id=settings.tencent_sms_sdk_app_id,
            sign_name=settings.tencent_sms_sign_name,
            region=settings.tencent_sms_region,
            endpoint=settings.sms_endpoint,
            timeout_s=timeout_s,
        )
    account = sandbox_account(settings)
    return TencentSms(
        secret_id=account.tencent_secret_id,
        secret_key=account.tencent_secret_key,
        sdk_app_id=account.tencent_sdk_app_id,
        sign_name=settings.tencent_sms_sign_name or signature,
        region=settings.tencent_sms_region,
        endpoint=settings.sms_endpoint or SANDBOX_ENDPOINT,
        timeout_s=timeout_s,
    )
