"""Play WeChat: build, sign (and optionally encrypt) callback requests and read the passive reply."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from gateway.wechat.crypto import MessageCrypto, make_signature
from gateway.wechat.messages import render_xml
from gateway.wechat.sandbox import read_reply
from gateway.wechat.settings import WeChatSettings

ORIGINAL_ID = "gh_bankcare_demo"


@dataclass(frozen=True)
class Reply:
    """What the gateway answered: HTTP status, the passive reply text (None for ``success``), timing."""

    status: int
    text: str | None
    elapsed_s: float
    raw: str


class WeChatPlayer:
    """Signs requests as WeChat does for one Official Account (plain or safe mode)."""

    def __init__(self, settings: WeChatSettings, original_id: str = ORIGINAL_ID) -> None:
        self.settings = settings
        self.original_id = original_id
        self.crypto = MessageCrypto(settings.encoding_aes_key, settings.app_id) if settings.safe_mode else None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WeChatPlayer:
        """The account a gateway started with ``env`` serves (dev defaults where unset)."""
        return cls(WeChatSettings.from_env(env), env.get("WECHAT_ORIGINAL_ID") or ORIGINAL_ID)

    def text_xml(self, openid: str, content: str, msg_id: int | None = None, create_time: int | None = None) -> str:
        return render_xml({
            "ToUserName": self.original_id, "FromUserName": openid,
            "CreateTime": int(time.time()) if create_time is None else create_time,
            "MsgType": "text", "Content": content, "MsgId": msg_id or new_msg_id(),
        })  # fmt: skip

    def sign(
        self,
        body: str | bytes,
        *,
        encrypt: bool = False,
        timestamp: int | None = None,
        nonce: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Query string and body exactly as WeChat would POST ``body`` (encrypted in safe mode)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        nonce = nonce or str(secrets.randbelow(10**10))
        query = {"timestamp": ts, "nonce": nonce, "signature": make_signature(self.settings.token, ts, nonce)}
        raw = body.encode("utf-8") if isinstance(body, str) else body
        if not encrypt:
            return query, raw
        if self.crypto is None:
            raise ValueError("safe mode needs WECHAT_ENCODING_AES_KEY")
        encrypted = self.crypto.encrypt(raw)
        query.update(encrypt_type="aes", msg_signature=make_signature(self.settings.token, ts, nonce, encrypted))
        return query, render_xml({"ToUserName": self.original_id, "Encrypt": encrypted}).encode("utf-8")

    async def post(
        self,
        http: aiohttp.ClientSession,
        gateway_url: str,
        query: Mapping[str, str],
        body: bytes,
        timeout_s: float = 15.0,
    ) -> Reply:
        """POST a callback; ``Reply.text`` is the decrypted passive reply or None (``success``/error)."""
        started = time.perf_counter()
        async with http.post(
            f"{gateway_url.rstrip('/')}/wechat",
            params=dict(query),
            data=body,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as resp:
            raw = await resp.text(errors="replace")
            elapsed = time.perf_counter() - started
            text = read_reply(self.settings, raw) if resp.status == 200 else None
            return Reply(resp.status, text, elapsed, raw)

    async def say(
        self,
        http: aiohttp.ClientSession,
        gateway_url: str,
        openid: str,
        content: str,
        *,
        encrypt: bool = False,
        msg_id: int | None = None,
    ) -> Reply:
        """One customer text message, signed, through ``/wechat``."""
        query, body = self.sign(self.text_xml(openid, content, msg_id), encrypt=encrypt)
        return await self.post(http, gateway_url, query, body)


def new_msg_id() -> int:
    """A fresh 64-bit MsgId, as WeChat assigns them."""
    return secrets.randbelow(2**62) + 1
