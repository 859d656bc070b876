"""check-config explains what the chosen SMS provider needs (outbound/sms/config.py)."""

from __future__ import annotations

from bankcare.cli_config import diagnose


def messages(env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    shown, findings = diagnose(env, network=False)
    return shown, [f"{f.level}: {f.message}" for f in findings]


def test_sandbox_needs_no_credentials() -> None:
    _, found = messages({})
    assert not [m for m in found if "SMS" in m or "短信" in m]


def test_tencent_lists_each_missing_credential_and_hides_the_key() -> None:
    shown, found = messages({"SMS_BACKEND": "tencent", "TENCENT_SMS_SECRET_KEY": "k" * 32,
                             "TENCENT_SMS_SDK_APP_ID": "14001"})
    assert "error: SMS_BACKEND=tencent 需要设置 TENCENT_SMS_SECRET_ID (SMS provider credential missing)" in found
    assert any("TENCENT_SMS_SIGN_NAME" in m for m in found)
    assert any("TENCENT_SMS_SDK_APP_ID 应为 10 位数字" in m for m in found)
    assert shown["TENCENT_SMS_SECRET_KEY"] == "******"


def test_complete_aliyun_account_is_fine_and_an_endpoint_override_is_pointed_out() -> None:
    env = {"SMS_BACKEND": "aliyun", "ALIYUN_ACCESS_KEY_ID": "LTAI5t000", "ALIYUN_ACCESS_KEY_SECRET": "s" * 30,
           "ALIYUN_SMS_SIGN_NAME": "XX农商银行"}
    shown, found = messages(env)
    assert not [m for m in found if m.startswith("error")]
    assert shown["ALIYUN_ACCESS_KEY_SECRET"] == "******"
    _, found = messages({**env, "SMS_ENDPOINT": "http://127.0.0.1:8091", "ALIYUN_SMS_SIGN_NAME": "【别的银行】"})
    assert any("SMS_ENDPOINT" in m and m.startswith("warning") for m in found)
    assert any("签名" in m and m.startswith("warning") for m in found)


def test_unknown_backend_is_an_error() -> None:
    _, found = messages({"SMS_BACKEND": "twilio"})
    assert any("SMS_BACKEND 只能是" in m for m in found)


def test_a_real_provider_without_callback_token_is_warned_and_the_token_is_hidden() -> None:
    env = {"SMS_BACKEND": "aliyun", "ALIYUN_ACCESS_KEY_ID": "LTAI5t000", "ALIYUN_ACCESS_KEY_SECRET": "s" * 30,
           "ALIYUN_SMS_SIGN_NAME": "XX农商银行"}
    shown, found = messages(env)
    assert any("SMS_CALLBACK_TOKEN" in m and m.startswith("warning") for m in found)
    assert shown["SMS_CALLBACK_TOKEN"] == ""
    assert shown["SMS_PRICE_PER_SEGMENT"] == "0.045"
    shown, found = messages({**env, "SMS_CALLBACK_TOKEN": "cb-token-1234", "SMS_PRICE_PER_SEGMENT": "0.04"})
    assert not any("SMS_CALLBACK_TOKEN" in m for m in found)
    assert shown["SMS_CALLBACK_TOKEN"] == "******"
    assert shown["SMS_PRICE_PER_SEGMENT"] == "0.04"


def test_sms_price_must_be_a_plausible_number() -> None:
    _, found = messages({"SMS_PRICE_PER_SEGMENT": "4分"})
    assert any("SMS_PRICE_PER_SEGMENT" in m and m.startswith("error") for m in found)
    _, found = messages({"SMS_PRICE_PER_SEGMENT": "-1"})
    assert any("SMS_PRICE_PER_SEGMENT 应在 0 到 10 元之间" in m for m in found)


def test_help_names_the_template_file() -> None:
    from bankcare import cli_config

    assert "crm/sms_templates.yml" in (cli_config.__doc__ or "")


def test_an_exposed_sandbox_gateway_without_callback_token_is_warned() -> None:
    """The gateway refuses tokenless SMS pushes once others can reach it, the sandbox's included."""
    exposed = {"PUBLIC_URL": "https://kf.example-bank.cn"}
    _, found = messages(exposed)
    assert any("SMS_CALLBACK_TOKEN" in m and m.startswith("warning") for m in found)
    _, found = messages({**exposed, "SMS_CALLBACK_TOKEN": "cb-token-1234"})
    assert not any("SMS_CALLBACK_TOKEN" in m for m in found)
