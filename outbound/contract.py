"""The contract between the dispatcher and whatever actually delivers a message.

The real implementation (``outbound/sender.py``) chooses the WeChat customer-service API inside
the 48-hour window, a template message for service notices outside it, or a web chat push. It
must treat ``DeliveryView.idempotency_key`` as the identity of the message: the dispatcher
delivers at least once (a dispatcher killed between sending and recording will re-send after
its lease expires), and the sender turns that into exactly once by remembering keys.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class DeliveryView:
    """What a sender needs to know about one outbox row (no ORM object leaves the dispatcher)."""

    delivery_id: int
    idempotency_key: str
    customer_id: int
    campaign_code: str | None
    campaign_kind: str | None
    channel: str  # wechat | web
    identity_id: int | None
    external_id: str | None  # WeChat openid / web chat id
    last_inbound_at: dt.datetime | None  # for WeChat's 48-hour customer-service window
    is_marketing: bool
    text: str
    attempt: int  # 1 for the first try
    # SMS rows (channel ``sms``): the number and the registered template with its parameters.
    phone: str | None = None
    sms_template: str | None = None
    sms_params: tuple[str, ...] = ()


class SendStatus(StrEnum):
    """How one send went, as the sender tells its caller."""

    SENT = "sent"
    RETRY = "retry"  # temporary (network, rate limit, another sender busy with the key): try again later
    FAILED = "failed"  # permanent: trying again will not help, or could send the message twice


@dataclass(frozen=True)
class SendOutcome:
    """``sent``; ``retry`` or ``failed`` with a reason."""

    status: SendStatus
    reason: str | None = None
    # A provider's limit that lasts this long (an SMS number's 30 s / hour / day limit): the row
    # waits that long and the try does not count against the dispatcher's attempts.
    retry_after_s: float | None = None

    @classmethod
    def sent(cls) -> SendOutcome:
        return cls(SendStatus.SENT)

    @classmethod
    def retry(cls, reason: str, retry_after_s: float | None = None) -> SendOutcome:
        return cls(SendStatus.RETRY, reason, retry_after_s)

    @classmethod
    def failed(cls, reason: str) -> SendOutcome:
        return cls(SendStatus.FAILED, reason)


class Sender(Protocol):
    async def send(self, delivery: DeliveryView) -> SendOutcome:
        """Deliver ``delivery`` (idempotently by its key) and say how it went."""
        ...


class BatchSmsSender(Protocol):
    """SMS go out in provider batches (one request for up to 200 numbers), not one by one."""

    async def send_sms_batch(self, deliveries: list[DeliveryView]) -> list[SendOutcome]:
        """One outcome per delivery, in order; idempotent by each delivery's key."""
        ...


@dataclass
class RecordingSender:
    """Test double and benchmark sink: remembers what was delivered, deduplicating by key.

    ``script`` maps an idempotency key to outcomes returned on successive attempts, so tests can
    make a message fail twice and then succeed.
    """

    script: dict[str, list[SendOutcome]] = field(default_factory=dict)
    delay: float = 0.0
    delivered: dict[str, DeliveryView] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    async def send(self, delivery: DeliveryView) -> SendOutcome:
        self.calls.append(delivery.idempotency_key)
        if self.delay:
            await asyncio.sleep(self.delay)
        planned = self.script.get(delivery.idempotency_key)
        if planned:
            outcome = planned.pop(0)
            if outcome.status != SendStatus.SENT:
                return outcome
        self.delivered.setdefault(delivery.idempotency_key, delivery)
        return SendOutcome.sent()

    async def send_sms_batch(self, deliveries: list[DeliveryView]) -> list[SendOutcome]:
        """SMS rows too (:class:`BatchSmsSender`), recorded like any other delivery."""
        return [await self.send(d) for d in deliveries]
