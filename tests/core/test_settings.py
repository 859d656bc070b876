from __future__ import annotations

import pytest

from core.settings import ConfigError, Settings


def test_defaults_are_valid_and_secrets_hidden() -> None:
    s = Settings.from_env({})
    shown = s.describe()
    assert shown["WECHAT_APP_SECRET"] == "******"
    assert "bankcare-dev-secret" not in str(shown)


def test_database_password_is_hidden() -> None:
    s = Settings.from_env({"DATABASE_URL": "postgresql://bank:s3cret@db:5432/bankcare"})
    assert s.describe()["DATABASE_URL"] == "postgresql://bank:******@db:5432/bankcare"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"GATEWAY_PORT": "eighty"}, "GATEWAY_PORT"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"WECHAT_ENCODING_AES_KEY": "short"}, "WECHAT_ENCODING_AES_KEY"),
        ({"DEMO_MODE": "false"}, "SESSION_SECRET"),
        ({"CARE_DISPATCH_RATE": "0"}, "CARE_DISPATCH_RATE"),
        ({"CARE_DISPATCH_RATE": "fast"}, "CARE_DISPATCH_RATE"),
        ({"RASA_MAX_CONCURRENCY": "0"}, "RASA_MAX_CONCURRENCY"),
        ({"RASA_MAX_CONCURRENCY": "-1"}, "RASA_MAX_CONCURRENCY"),
        ({"RASA_MAX_CONCURRENCY": "1001"}, "RASA_MAX_CONCURRENCY"),
        ({"DEMO_MODE": "false", "SESSION_SECRET": "x" * 40, "WECHAT_APP_SECRET": "CHANGE_ME"}, "CHANGE_ME"),
    ],
)
def test_bad_values_are_explained(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        Settings.from_env(env)


def test_the_rasa_concurrency_limit_is_read_from_the_environment() -> None:
    assert Settings.from_env({"RASA_MAX_CONCURRENCY": "4"}).rasa_max_concurrency == 4
    assert Settings.from_env({}).rasa_max_concurrency == 8


def test_the_care_scheduler_sends_at_the_configured_rate(tmp_path: object) -> None:
    import care_scheduler.service as svc
    from outbound.contract import RecordingSender

    settings = Settings.from_env({"CARE_DISPATCH_RATE": "7.5", "DATABASE_URL": f"sqlite:///{tmp_path}/s.db"})
    assert settings.care_dispatch_rate == 7.5
    service = svc.CareService(settings, RecordingSender())
    try:
        assert svc._RUNTIME is not None and svc._RUNTIME.dispatcher.config.rate_per_second == 7.5
    finally:
        service.engine.dispose()
        service.scheduler.remove_all_jobs()
