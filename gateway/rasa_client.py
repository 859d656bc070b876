"""Talking to the Rasa server over its REST channel."""

from __future__ import annotations

from typing import Any

import aiohttp

from gateway.chat_types import BotReply, Button


class RasaUnavailable(Exception):
    """Rasa did not answer in time or answered with an error."""


class RasaClient:
    """Thin client; the HTTP session is attached when the app starts (it needs the running loop)."""

    def __init__(self, base_url: str, timeout_s: float, session: aiohttp.ClientSession | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    def attach(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RasaUnavailable("client not started")
        return self._session

    async def send(
        self,
        sender_id: str,
        text: str,
        metadata: dict[str, Any] | None = None,
        *,
        timeout_s: float | None = None,
        limit_s: float | None = None,
    ) -> list[dict[str, Any]]:
        """Send one user message; returns Rasa's raw output messages.

        Args:
            timeout_s: a tighter limit for this call (a channel's own deadline); never looser
                than the client's.
            limit_s: replaces the client's limit (for a caller that stops waiting on its own
                deadline but still wants the late answer).
        """
        payload: dict[str, Any] = {"sender": sender_id, "message": text}
        if metadata:
            payload["metadata"] = metadata
        timeout = self.timeout if limit_s is None else aiohttp.ClientTimeout(total=limit_s)
        if timeout_s is not None and (timeout.total is None or timeout_s < timeout.total):
            timeout = aiohttp.ClientTimeout(total=timeout_s)
        try:
            async with self.session.post(
                f"{self.base_url}/webhooks/rest/webhook", json=payload, timeout=timeout
            ) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"rasa answered HTTP {resp.status}")
                data = await resp.json()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RasaUnavailable(type(exc).__name__) from exc
        if not isinstance(data, list):
            raise RasaUnavailable("unexpected rasa response")
        return data

    async def parse(self, text: str) -> dict[str, Any]:
        """What Rasa's NLU makes of ``text`` (``POST /model/parse``), without touching any tracker."""
        try:
            async with self.session.post(
                f"{self.base_url}/model/parse", json={"text": text}, timeout=self.timeout
            ) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"rasa parse answered HTTP {resp.status}")
                parsed = await resp.json()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RasaUnavailable(type(exc).__name__) from exc
        if not isinstance(parsed, dict):
            raise RasaUnavailable("unexpected rasa parse response")
        return parsed

    async def append_events(self, sender_id: str, events: list[dict[str, Any]]) -> None:
        """Append events to a tracker (pause/resume and recording during RM handoff)."""
        try:
            async with self.session.post(
                f"{self.base_url}/conversations/{sender_id}/tracker/events", json=events, timeout=self.timeout
            ) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"rasa answered HTTP {resp.status}")
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise RasaUnavailable(type(exc).__name__) from exc


def to_replies(raw: list[dict[str, Any]]) -> tuple[list[BotReply], list[dict[str, Any]]]:
    """Split Rasa output into customer-visible replies and control payloads (``custom``)."""
    replies: list[BotReply] = []
    controls: list[dict[str, Any]] = []
    for item in raw:
        if isinstance(item.get("custom"), dict):
            controls.append(item["custom"])
        text = item.get("text")
        buttons = tuple(
            Button(title=str(b.get("title", "")), payload=str(b.get("payload", "")))
            for b in item.get("buttons") or []
        )
        if text:
            replies.append(BotReply(text=str(text), buttons=buttons))
        elif item.get("image"):
            replies.append(BotReply(text=str(item["image"])))
    return replies, controls
