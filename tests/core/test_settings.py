from __future__ import annotations

import pytest

from core.settings import ConfigError, Settings, hide_url_password, is_loopback_host


def test_defaults_are_valid_and_secrets_hidden() -> None:
    s = Settings.from_env({})
    shown = s.describe()
    assert shown["WECHAT_APP_SECRET"] == "******"
    assert "bankcare-dev-secret" not in str(shown)


def test_database_password_is_hidden() -> None:
    s = Settings.from_env({"DATABASE_URL": "postgresql://bank:s3cret@db:5432/bankcare"})
    assert s.describe()["DATABASE_URL"] == "postgresql://bank:******@db:5432/bankcare"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:******@127.0.0.1:6379/0"),  # no user name
        ("postgresql://u:p@[::1]:5432/d", "postgresql://u:******@[::1]:5432/d"),
        ("postgresql://u@db/d", "postgresql://u@db/d"),
        ("http://host:8080/a@b", "http://host:8080/a@b"),  # an @ in the path is not a password
        ("sqlite:////srv/bankcare.db", "sqlite:////srv/bankcare.db"),
    ],
)
def test_url_passwords_are_hidden_and_nothing_else_changes(url: str, shown: str) -> None:
    assert hide_url_password(url) == shown


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"GATEWAY_PORT": "eighty"}, "GATEWAY_PORT"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"WECHAT_ENCODING_AES_KEY": "short"}, "WECHAT_ENCODING_AES_KEY"),
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


# --- safe defaults (#19 finding 7) ----------------------------------------------------------------

ANY = "0.0.0.0"  # noqa: S104 - the address being refused

PRODUCTION_SECRETS = {
    "SESSION_SECRET": "s" * 40, "WECHAT_TOKEN": "t" * 32, "WECHAT_APP_ID": "wx1234567890abcdef",
    "WECHAT_ENCODING_AES_KEY": "k" * 43, "WECHAT_APP_SECRET": "a" * 32, "RASA_TOKEN": "r" * 40,
}  # fmt: skip


def test_demo_mode_is_off_unless_asked_for() -> None:
    assert Settings.from_env({}).demo_mode is False
    assert Settings.from_env({"DEMO_MODE": "true"}).demo_mode is True


@pytest.mark.parametrize(
    "env",
    [
        {"GATEWAY_HOST": ANY},
        {"GATEWAY_HOST": "192.168.1.20"},
        {"GATEWAY_HOST": "::"},
        {"PUBLIC_URL": "https://kefu.example-bank.cn"},  # loopback behind a proxy is public all the same
        {"TRUSTED_PROXIES": "127.0.0.1"},  # a proxy in front, PUBLIC_URL forgotten (second probe of #19)
        {**PRODUCTION_SECRETS, "RASA_TOKEN": "", "GATEWAY_HOST": ANY},
        {**PRODUCTION_SECRETS, "SESSION_SECRET": "", "GATEWAY_HOST": ANY},
    ],
)
def test_development_secrets_are_refused_beyond_this_machine(env: dict[str, str]) -> None:
    settings = Settings.from_env(env)
    assert settings.exposed
    with pytest.raises(ConfigError) as err:
        settings.refuse_development_secrets_when_exposed()
    assert "dev-only" not in str(err.value)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"GATEWAY_HOST": "localhost", "PUBLIC_URL": "http://127.0.0.1:8080"},
        {**PRODUCTION_SECRETS, "GATEWAY_HOST": ANY, "PUBLIC_URL": "https://kefu.example-bank.cn"},
    ],
)
def test_development_secrets_are_fine_on_loopback_and_real_ones_anywhere(env: dict[str, str]) -> None:
    Settings.from_env(env).refuse_development_secrets_when_exposed()


def test_the_refusal_names_every_development_secret() -> None:
    names = Settings.from_env({}).development_secrets()
    assert set(names) == {
        "SESSION_SECRET", "WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_ENCODING_AES_KEY", "WECHAT_APP_SECRET",
        "RASA_TOKEN",
    }  # fmt: skip
    assert Settings.from_env(PRODUCTION_SECRETS).development_secrets() == []


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.0.0.53", True), ("::1", True), ("[::1]", True), ("localhost", True),
     (ANY, False), ("::", False), ("10.0.0.5", False), ("kefu.example-bank.cn", False), ("", False)],
)  # fmt: skip
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
