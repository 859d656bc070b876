"""Settings for the WeChat channel, read once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from core.settings import Settings
from gateway.wechat.crypto import CryptoError, decode_aes_key


class WeChatConfigError(ValueError):
    """A WeChat setting is missing or malformed (the message names the variable, never its value)."""


# The account's message encryption mode, as chosen in the WeChat admin console (消息加解密方式):
# plain (明文) ignores encryption, compatible (兼容) accepts both, safe (安全) only encrypted bodies.
MODES = ("plain", "compatible", "safe")


@dataclass(frozen=True)
class WeChatSettings:
    """Credentials and limits of one Official Account.

    Attributes:
        token: the callback Token configured in the WeChat admin console.
        app_id: the AppId (``wx...``); safe-mode messages must carry it.
        encoding_aes_key: 43-character key for safe mode; empty means plaintext mode only.
        mode: ``plain``, ``compatible`` or ``safe`` (WECHAT_MODE); empty chooses ``safe`` when
            a key is set, else ``plain``.
        replay_redis_url: remember (timestamp, nonce) pairs in this Redis (REDIS_URL); empty
            keeps them in the database.
        app_secret: used to fetch API access tokens.
        api_base: ``https://api.weixin.qq.com`` in production, the local sandbox otherwise.
        original_id: the account's original id (``gh_...``); if set, ToUserName must equal it.
        reply_timeout_s: after this the passive reply is ``success`` and the answer goes
            through the customer-service API (WeChat gives up after 5 s).
    """

    token: str
    app_id: str
    encoding_aes_key: str = ""
    app_secret: str = ""
    api_base: str = "https://api.weixin.qq.com"
    original_id: str = ""
    reply_timeout_s: float = 4.5
    max_clock_skew_s: int = 300
    max_body_bytes: int = 64 * 1024
    mode: str = ""
    replay_redis_url: str = ""

    def __post_init__(self) -> None:
        if not self.mode:  # frozen: the derived default is set once, here
            object.__setattr__(self, "mode", "safe" if self.encoding_aes_key else "plain")
        if self.mode not in MODES:
            raise WeChatConfigError("WECHAT_MODE must be plain, compatible or safe")
        if self.mode != "plain" and not self.encoding_aes_key:
            raise WeChatConfigError(f"WECHAT_MODE={self.mode} needs WECHAT_ENCODING_AES_KEY")
        if not self.token:
            raise WeChatConfigError("WECHAT_TOKEN is required")
        if not self.app_id:
            raise WeChatConfigError("WECHAT_APP_ID is required")
        if self.encoding_aes_key:
            try:
                decode_aes_key(self.encoding_aes_key)
            except CryptoError as exc:
                raise WeChatConfigError("WECHAT_ENCODING_AES_KEY must be 43 base64 characters") from exc

    def __repr__(self) -> str:  # never print secrets
        return f"WeChatSettings(app_id={self.app_id!r}, api_base={self.api_base!r}, mode={self.mode!r})"

    @property
    def safe_mode(self) -> bool:
        """True when encrypted (``encrypt_type=aes``) messages are handled (compatible or safe mode)."""
        return self.mode != "plain"

    @property
    def requires_encryption(self) -> bool:
        """True when plaintext bodies are refused (safe mode)."""
        return self.mode == "safe"

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> WeChatSettings:
        """Take the WeChat values from the application-wide settings."""
        values: dict[str, object] = {
            "token": settings.wechat_token,
            "app_id": settings.wechat_app_id,
            "encoding_aes_key": settings.wechat_encoding_aes_key,
            "app_secret": settings.wechat_app_secret,
            "api_base": settings.wechat_api_base,
            "original_id": settings.extra.get("wechat_original_id", ""),
            "mode": settings.wechat_mode,
            "replay_redis_url": settings.redis_url,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WeChatSettings:
        """Read WECHAT_TOKEN, WECHAT_APP_ID, WECHAT_ENCODING_AES_KEY, WECHAT_APP_SECRET,
        WECHAT_API_BASE, WECHAT_MODE, REDIS_URL (and optional WECHAT_ORIGINAL_ID); unset ones
        take the dev defaults of ``core.settings.Settings``."""
        env = os.environ if env is None else env
        defaults = Settings()

        def get(name: str, default: str) -> str:
            value = env.get(name)
            return default if value is None or value == "" else value

        return cls(
            token=get("WECHAT_TOKEN", defaults.wechat_token),
            app_id=get("WECHAT_APP_ID", defaults.wechat_app_id),
            encoding_aes_key=get("WECHAT_ENCODING_AES_KEY", defaults.wechat_encoding_aes_key),
            app_secret=get("WECHAT_APP_SECRET", defaults.wechat_app_secret),
            api_base=get("WECHAT_API_BASE", defaults.wechat_api_base).rstrip("/"),
            original_id=get("WECHAT_ORIGINAL_ID", ""),
            mode=get("WECHAT_MODE", defaults.wechat_mode).strip().lower(),
            replay_redis_url=get("REDIS_URL", ""),
        )
