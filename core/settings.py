"""Typed settings, read once from the environment at start-up.

Every variable is documented in the README's configuration table; ``bankcare check-config``
explains what is missing or wrong. Secrets are never printed (see ``Settings.describe``).
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = f"sqlite:///{PROJECT_ROOT / 'var' / 'bankcare.db'}"

SECRET_FIELDS = frozenset({
    "wechat_app_secret", "wechat_encoding_aes_key", "wechat_token", "session_secret",
    "tencent_sms_secret_key", "aliyun_access_key_secret", "rasa_token", "actions_token", "sms_callback_token",
})
# Settings whose built-in defaults are public development values (see ``development_secrets``).
DEVELOPMENT_VALUES = ("session_secret", "wechat_token", "wechat_encoding_aes_key", "wechat_app_secret", "wechat_app_id")
SMS_BACKENDS = ("sandbox", "tencent", "aliyun")


def hide_url_password(url: str) -> str:
    """``postgresql://user:secret@host/db`` → ``postgresql://user:******@host/db``, also without a user
    (``redis://:secret@host``); anything else is returned unchanged. The one URL masking of every process."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]  # as written: keeps IPv6 brackets and the port
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:******@{host}"))


def is_loopback_host(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DB
    rasa_url: str = "http://127.0.0.1:5005"
    actions_url: str = "http://127.0.0.1:5055/webhook"
    redis_url: str = ""
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    public_url: str = "http://localhost:8080"
    # The web page's demo-customer picker; off unless asked for (`make run` turns it on).
    demo_mode: bool = False
    rasa_timeout_s: float = 4.5
    # Messages the gateway lets Rasa work on at once; the rest wait their turn (gateway/rasa_client.py).
    rasa_max_concurrency: int = 8
    # Rasa's HTTP API token (rasa run --auth-token), held by the gateway only; empty: no token sent.
    rasa_token: str = ""
    # What Rasa sends to the action server (bot/endpoints.yml action_endpoint token); the action
    # server refuses calls without it. Empty: the action server checks nothing (local development).
    actions_token: str = ""
    # Development defaults only; DEMO_MODE=false refuses the dev session secret.
    wechat_token: str = "bankcare-dev-token"  # noqa: S105
    wechat_app_id: str = "wxbankcaredemo0001"
    wechat_encoding_aes_key: str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    wechat_app_secret: str = "bankcare-dev-secret"  # noqa: S105
    wechat_api_base: str = "http://127.0.0.1:8090"
    # plain | compatible | safe; empty: safe when an EncodingAESKey is set (gateway/wechat/settings.py).
    wechat_mode: str = ""
    sms_backend: str = "sandbox"  # sandbox | tencent | aliyun (outbound/sms/config.py)
    # Binding codes (SMS): "gap seconds/per hour/per day" per phone, chat identity and client address.
    otp_limit_phone: str = "60/5/10"
    otp_limit_identity: str = "60/5/10"
    otp_limit_address: str = "10/30/100"
    # Proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For names the real client
    # (console login throttling, gateway/client_address.py); empty: the TCP peer is the client.
    trusted_proxies: str = ""
    # Verification of a chat identity lapses after this long without a customer message, and at the
    # latest this long after the code was entered (crm/access/identity.py). Web chat runs on shared
    # devices (网吧, a branch PC): minutes; WeChat is the customer's own phone: days.
    web_verify_idle_minutes: int = 15
    web_verify_max_hours: int = 12
    wechat_verify_idle_days: int = 30
    wechat_verify_max_days: int = 180
    # Web chat rate limits, "count/seconds" (fixed windows) or "off"; per client address and per chat
    # identity (gateway/rate_limit.py). Redis when REDIS_URL is set, else each gateway's memory.
    webchat_limit_sessions: str = "30/600"  # new chat sessions per address
    webchat_limit_messages: str = "20/60"  # messages per chat identity
    webchat_limit_messages_address: str = "120/60"  # messages per address (many customers behind one NAT)
    webchat_limit_handoffs: str = "5/600"  # 转人工 requests per chat identity
    webchat_limit_handoffs_address: str = "30/600"  # 转人工 requests per address
    # host:port or URL the SMS SDK talks to instead of the provider (the sandbox: 127.0.0.1:8091).
    sms_endpoint: str = ""
    # Tencent Cloud SMS (SMS_BACKEND=tencent); empty values mean the sandbox's development account.
    tencent_sms_secret_id: str = ""
    tencent_sms_secret_key: str = ""
    tencent_sms_sdk_app_id: str = ""
    tencent_sms_sign_name: str = ""
    tencent_sms_region: str = "ap-guangzhou"
    # Alibaba Cloud SMS (SMS_BACKEND=aliyun).
    aliyun_access_key_id: str = ""
    aliyun_access_key_secret: str = ""
    aliyun_sms_sign_name: str = ""
    # The ?token= the providers' report and reply URLs carry (gateway/sms_callbacks.py); the sandbox
    # sends it too. Empty: only SMS_BACKEND=sandbox callbacks are accepted.
    sms_callback_token: str = ""
    # 元 per billing segment (the bank's contract price): care preview and campaign reports' estimated cost.
    sms_price_per_segment: float = 0.045
    session_secret: str = "dev-only-session-secret-change-me"  # noqa: S105
    log_format: str = "text"  # text | json
    timezone: str = "Asia/Shanghai"
    # The bank's own customer hotline, named in 反诈 warnings; empty: "银行卡背面的本行客服热线".
    bank_hotline: str = ""
    # Care messages per second the scheduler sends (WeChat's and the SMS gateway's limits, the bank's taste).
    care_dispatch_rate: float = 50.0
    # Days kept before the daily retention job deletes them; 0 keeps forever (docs/OPERATIONS.md
    # gives the reasons). Conversation texts (messages), SMS outbox rows (phones, codes), audit events.
    retention_messages_days: int = 365
    retention_sms_days: int = 30
    retention_audit_days: int = 1095
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default ``os.environ``), validating as it goes."""
        env = os.environ if env is None else env
        kwargs: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            raw = env.get(f.name.upper())
            if raw is None or raw == "":
                continue
            if f.type in ("int", int):
                try:
                    kwargs[f.name] = int(raw)
                except ValueError as exc:
                    raise ConfigError(f"{f.name.upper()} 应为整数 (must be an integer)") from exc
            elif f.type in ("float", float):
                try:
                    kwargs[f.name] = float(raw)
                except ValueError as exc:
                    raise ConfigError(f"{f.name.upper()} 应为数字 (must be a number)") from exc
            elif f.type in ("bool", bool):
                kwargs[f.name] = raw.strip().lower() in {"1", "true", "yes", "on"}
            else:
                kwargs[f.name] = raw
        settings = cls(**kwargs)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise ConfigError for values that cannot work."""
        if not (self.database_url.startswith("sqlite") or self.database_url.startswith("postgres")):
            raise ConfigError("DATABASE_URL 只支持 sqlite:/// 或 postgresql:// (only SQLite or PostgreSQL)")
        if len(self.wechat_encoding_aes_key) != 43:
            raise ConfigError("WECHAT_ENCODING_AES_KEY 必须是 43 个字符 (must be 43 characters)")
        for name in ("rasa_url", "actions_url", "wechat_api_base"):
            if not getattr(self, name).startswith(("http://", "https://")):
                raise ConfigError(f"{name.upper()} 必须以 http:// 或 https:// 开头")
        if not 1 <= self.rasa_max_concurrency <= 1000:
            raise ConfigError("RASA_MAX_CONCURRENCY 应在 1 到 1000 之间 (messages Rasa works on at once)")
        if self.wechat_mode.strip().lower() not in ("", "plain", "compatible", "safe"):
            raise ConfigError("WECHAT_MODE 只能是 plain、compatible 或 safe (message encryption mode)")
        if self.sms_backend not in SMS_BACKENDS:
            raise ConfigError(f"SMS_BACKEND 只能是 {' / '.join(SMS_BACKENDS)} (unknown SMS backend)")
        if not 0 <= self.sms_price_per_segment <= 10:
            raise ConfigError("SMS_PRICE_PER_SEGMENT 应在 0 到 10 元之间 (yuan per billing segment, e.g. 0.045)")
        if self.sms_callback_token.strip() != self.sms_callback_token or "&" in self.sms_callback_token:
            raise ConfigError("SMS_CALLBACK_TOKEN 不能含空格或 & (it goes into the callback URL as ?token=)")
        for proxy in filter(None, (p.strip() for p in self.trusted_proxies.split(","))):
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError as exc:
                raise ConfigError(f"TRUSTED_PROXIES 中的 {proxy} 不是 IP 地址或网段 (IP or CIDR)") from exc
        for name in ("otp_limit_phone", "otp_limit_identity", "otp_limit_address"):
            if not re.fullmatch(r"\d+/[1-9]\d*/[1-9]\d*", getattr(self, name).strip()):
                raise ConfigError(f"{name.upper()} 应为“间隔秒数/每小时/每天”，例如 60/5/10 (gap s/per hour/per day)")
        if not 1 <= self.web_verify_idle_minutes <= 24 * 60:
            raise ConfigError("WEB_VERIFY_IDLE_MINUTES 应在 1 到 1440 之间 (web chat verification idle timeout)")
        if not 1 <= self.web_verify_max_hours <= 24:
            raise ConfigError("WEB_VERIFY_MAX_HOURS 应在 1 到 24 之间 (web chat verification lasts at most a day)")
        if self.web_verify_idle_minutes > self.web_verify_max_hours * 60:
            raise ConfigError("WEB_VERIFY_IDLE_MINUTES 不能超过 WEB_VERIFY_MAX_HOURS (idle timeout above the maximum)")
        if not 1 <= self.wechat_verify_idle_days <= 365:
            raise ConfigError("WECHAT_VERIFY_IDLE_DAYS 应在 1 到 365 之间 (WeChat verification idle timeout)")
        if not 1 <= self.wechat_verify_max_days <= 730:
            raise ConfigError("WECHAT_VERIFY_MAX_DAYS 应在 1 到 730 之间 (WeChat verification lasts at most two years)")
        if self.wechat_verify_idle_days > self.wechat_verify_max_days:
            raise ConfigError("WECHAT_VERIFY_IDLE_DAYS 不能超过 WECHAT_VERIFY_MAX_DAYS (idle above maximum)")
        for name in (
            "webchat_limit_sessions", "webchat_limit_messages", "webchat_limit_messages_address",
            "webchat_limit_handoffs", "webchat_limit_handoffs_address",
        ):  # fmt: skip
            value = getattr(self, name).strip().lower()
            if value != "off" and not re.fullmatch(r"[1-9]\d{0,6}/[1-9]\d{0,5}", value):
                raise ConfigError(f"{name.upper()} 应为“次数/秒数”，例如 20/60，或 off (count/seconds or off)")
        if not 0 < self.care_dispatch_rate <= 10_000:
            raise ConfigError("CARE_DISPATCH_RATE 应在 0 到 10000 之间 (messages per second)")
        for name in ("retention_messages_days", "retention_sms_days", "retention_audit_days"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name.upper()} 不能为负数 (days to keep; 0 keeps forever)")
        if 0 < self.retention_audit_days < 180:
            # Cybersecurity Law art. 21: network logs are kept at least six months.
            raise ConfigError("RETENTION_AUDIT_DAYS 至少 180 天 (audit logs are kept at least six months), 或 0")
        for name in sorted(SECRET_FIELDS):
            if "CHANGE_ME" in str(getattr(self, name)):
                raise ConfigError(f"{name.upper()} 仍是示例占位值 CHANGE_ME，请换成真实的值")

    @property
    def exposed(self) -> bool:
        """True when the gateway serves more than this machine: a GATEWAY_HOST other than loopback,
        a PUBLIC_URL (behind a proxy) that is not localhost, or TRUSTED_PROXIES (a proxy in front of
        a loopback gateway forwards others' requests, even when PUBLIC_URL was forgotten)."""
        public_host = urlsplit(self.public_url).hostname or ""
        return (
            not is_loopback_host(self.gateway_host) or not is_loopback_host(public_host) or bool(self.trusted_proxies)
        )

    def development_secrets(self) -> list[str]:
        """Names of secrets still at their public development value (or, for RASA_TOKEN, unset)."""
        names = [
            name.upper() for name in DEVELOPMENT_VALUES
            if getattr(self, name) == Settings.__dataclass_fields__[name].default
        ]  # fmt: skip
        if not self.rasa_token:
            names.append("RASA_TOKEN")
        return names

    def refuse_development_secrets_when_exposed(self) -> None:
        """Raise ConfigError if the gateway would serve others while signing with a public secret.

        The development values are in this repository: with them anyone can sign web chat and
        console cookies, forge WeChat callbacks or talk to Rasa directly.
        """
        found = self.development_secrets()
        if self.exposed and found:
            raise ConfigError(
                f"{', '.join(found)} 仍是开发默认值，网关不能在非本机地址 (GATEWAY_HOST/PUBLIC_URL) 上使用"
                " (development secrets on a non-loopback address)"
            )

    def describe(self) -> dict[str, str]:
        """Settings as strings for display, with secrets hidden."""
        out: dict[str, str] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                out[f.name.upper()] = "******"
            else:
                out[f.name.upper()] = hide_url_password(str(value))
        return out
