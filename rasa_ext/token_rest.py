"""Rasa's REST channel, answering only callers that hold Rasa's token (the gateway).

``rasa run --auth-token`` protects Rasa's HTTP API (trackers, /model/parse) but not the input
channels: anyone on the host could still post ``/webhooks/rest/webhook`` with a WeChat customer's
sender id and ``查余额``. This channel wants the same token (RASA_TOKEN) as ``?token=``; without
RASA_TOKEN it behaves like Rasa's own REST channel (local development, ``rasa test``).
Configured in bot/credentials.yml; its name stays ``rest``, so the URL does not change.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from rasa.core.channels.rest import RestInput
from sanic.exceptions import Unauthorized
from sanic.request import Request

from rasa_ext import log_redaction

log_redaction.install()  # Rasa's warnings quote customers' messages


class TokenRestInput(RestInput):
    """``RestInput`` that refuses (401) a message without ``?token=<RASA_TOKEN>``."""

    def __init__(self, token: str = "") -> None:
        self.token = token

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TokenRestInput:
        return cls(os.environ.get("RASA_TOKEN", ""))

    async def _extract_sender(self, req: Request) -> str | None:
        # The first thing Rasa's handler does with a request: nothing has been read or run yet.
        if self.token:
            supplied = str(req.args.get("token", "")).encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(supplied, self.token.encode("utf-8")):
                raise Unauthorized("a valid token is required")
        sender: str | None = await super()._extract_sender(req)
        return sender
