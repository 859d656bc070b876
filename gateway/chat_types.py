"""The contract between channels (web chat, WeChat) and the conversation core."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


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


class TurnHooks(Protocol):
    """A channel's own bookkeeping for one message, run inside the core's transactions.

    The core calls ``begin`` first thing in the transaction that records the inbound message and
    ``finish`` last thing in the transaction that records the replies (the same transaction when
    no bot call is needed). So the channel's dedupe claim commits or rolls back together with the
    recorded message, and a message costs two commits instead of one per concern.
    """

    def begin(self, session: Session, message: InboundMessage) -> InboundMessage:
        """Claim the message (raise to abort: nothing is recorded); may return a rewritten message."""
        ...

    def finish(self, session: Session, replies: list[BotReply]) -> None:
        """Store what the channel needs about the replies before they go out."""
        ...


class ChatService(Protocol):
    """Implemented by gateway.conversation; used by every channel."""

    async def handle_message(self, message: InboundMessage, hooks: TurnHooks | None = None) -> list[BotReply]:
        """Record the message, route it (bot or RM) and return the immediate replies."""
        ...

    async def on_subscribe(self, channel: str, user_id: str, scene: str | None) -> list[BotReply]:
        """A user followed the account (``scene``: the qrscene_ value without prefix, e.g. an RM code)."""
        ...

    async def on_unsubscribe(self, channel: str, user_id: str) -> None:
        """Stop all messaging to this user and anonymise the channel data."""
        ...
