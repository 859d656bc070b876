"""One claimed WeChat message: its dedupe claim, numbered choices and passive reply.

The conversation core runs ``WeChatTurn.begin`` and ``finish`` inside its own transactions
(``gateway.chat_types.TurnHooks``), so the claim commits with the recorded inbound message and
the passive reply with the recorded replies.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading

from sqlalchemy.orm import Session

from crm import wechat_store as store
from gateway.chat_types import BotReply, InboundMessage
from gateway.wechat import convert

CHOICE_MAX_AGE = dt.timedelta(minutes=30)


class Duplicate(Exception):
    """Another attempt (possibly in another process) already claimed this message."""

    def __init__(self, state: store.InboundState) -> None:
        super().__init__("duplicate")
        self.state = state


class WeChatTurn:
    """One claimed WeChat message: the hand-over between the request and the job, and the
    channel's bookkeeping run inside the core's transactions (``gateway.chat_types.TurnHooks``).

    The request waits at most ``reply_timeout_s`` for ``result``; then it answers "success" and
    the job delivers the reply through the customer-service API instead. Which of the two
    happens is decided once, under ``lock``, inside the transaction that stores the reply: either
    that transaction records the passive reply (``replying``: the request waits the few
    milliseconds until it commits) or the request has already given up (``deferred``).
    """

    def __init__(self, key: str, openid: str, dispatch: convert.Dispatch, result: asyncio.Future[Outcome]) -> None:
        self.key = key
        self.openid = openid
        self.dispatch = dispatch
        self.result = result
        self.lock = threading.Lock()
        self.deferred = False
        self.replying = False
        self.text: str | None = None  # the reply, once written (committed when the core returns)

    # --- TurnHooks --------------------------------------------------------------------------

    def begin(self, session: Session, message: InboundMessage) -> InboundMessage:
        """Claim the message in the caller's transaction; resolve a numbered choice."""
        state = store.claim_inbound(session, self.key, self.openid, commit=False)
        if not state.created:
            raise Duplicate(state)
        number = convert.choice_index(message.text)
        if number is None:
            return message
        payload = store.resolve_choice(session, self.openid, number, CHOICE_MAX_AGE)
        if payload is None:
            return message
        meta = {**message.metadata, "choice": str(number)}
        return InboundMessage(message.channel, message.user_id, payload, message.location, meta)

    def finish(self, session: Session, replies: list[BotReply]) -> None:
        """Save the numbered choices and the passive reply (or the hand-over to the API)."""
        text, buttons = convert.render_replies(replies)
        if self.dispatch.kind == "message":
            # Before the customer can see the numbered choices: a quick "1" must find them.
            store.save_choices(session, self.openid, [b.payload for b in buttons])
        self.settle(session, text)

    def settle(self, session: Session, text: str) -> None:
        """Record the outcome; from here on the reply is either passive or the API's to deliver."""
        with self.lock:
            if not self.deferred:
                self.replying = True
        if self.deferred:
            store.finish_inbound(session, self.key, store.DEFERRED, None)
        else:
            store.finish_inbound(session, self.key, store.REPLIED, text)
        self.text = text

    # --- the request's side -----------------------------------------------------------------

    def give_up(self) -> bool:
        """The request's deadline passed: True if the job must deliver through the API."""
        with self.lock:
            if not self.replying:
                self.deferred = True
            return self.deferred


Outcome = str | store.InboundState  # the passive reply text, or the claim of an earlier attempt
