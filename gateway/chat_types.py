"""The contract between channels (web chat, WeChat) and the conversation core."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Button:
    """A quick-reply choice. ``payload`` is sent back as the user's message when tapped."""

    title: str
    payload: str


@dataclass(frozen=True)
class BotReply:
    """One message to show the customer."""

    text: str
    buttons: tuple[Button, ...] = ()
    author: str = "bot"  # "bot" or "rm"


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    label: str = ""


@dataclass(frozen=True)
class InboundMessage:
    """A customer's message after the channel has authenticated and decoded it.

    ``user_id`` is the channel's own identity (WeChat openid, web chat id), never a customer id:
    the core maps it to a conversation and, if bound and verified, to a customer.
    """

    channel: str  # "wechat" | "web"
    user_id: str
    text: str
    location: Location | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class ChatService(Protocol):
    """Implemented by gateway.conversation; used by every channel."""

    async def handle_message(self, message: InboundMessage) -> list[BotReply]:
        """Record the message, route it (bot or RM) and return the immediate replies."""
        ...

    async def on_subscribe(self, channel: str, user_id: str, scene: str | None) -> list[BotReply]:
        """A user followed the account (``scene``: the qrscene_ value without prefix, e.g. an RM code)."""
        ...

    async def on_unsubscribe(self, channel: str, user_id: str) -> None:
        """Stop all messaging to this user and anonymise the channel data."""
        ...
