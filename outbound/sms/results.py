"""One adapter interface for every SMS provider, and what a send came to for each phone.

``send_batch(template, phones, params)`` sends one registered template with the same parameters
to many numbers (Tencent Cloud takes up to 200 numbers per request) and answers, per phone, one of:

- ``sent``: the provider accepted it (delivery is reported later, see outbound/sms/callbacks.py);
- ``retry``: nothing went out and trying again later will do (frequency limits, throttling,
  network, the provider's own trouble, a credentials problem an operator can fix);
  ``retry_after_s`` says how long the limit lasts when the provider's code tells;
- ``failed``: this message can never go out as it is (invalid or blacklisted number, template
  or signature not approved, wrong parameters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from outbound.sms.templates import SmsTemplate

Outcome = Literal["sent", "retry", "failed"]


@dataclass(frozen=True)
class SmsResult:
    phone: str
    outcome: Outcome
    # The provider's own code, e.g. Ok, LimitExceeded.PhoneNumberThirtySecondLimit, isv.BUSINESS_LIMIT_CONTROL.
    code: str
    message: str = ""
    # The provider's id of the message (Tencent SerialNo, Alibaba BizId): delivery reports carry it.
    provider_message_id: str = ""
    retry_after_s: float | None = None
    fee: int = 0  # billing segments the provider charged (Tencent reports it per number)


class SmsProvider(Protocol):
    name: str
    max_batch: int

    def send_batch(
        self, template: SmsTemplate, phones: Sequence[str], params: Sequence[str], *, context: str = ""
    ) -> list[SmsResult]:
        """Send ``template`` with ``params`` to every phone; one result per phone, in order.

        ``context`` comes back in delivery reports (Tencent SessionContext, Alibaba OutId).
        Never raises for provider or network errors: they become ``retry``/``failed`` results.
        """
        ...


def all_results(phones: Sequence[str], outcome: Outcome, code: str, message: str = "",
                retry_after_s: float | None = None) -> list[SmsResult]:
    """The same result for every phone of a request that failed as a whole."""
    return [SmsResult(p, outcome, code, message, retry_after_s=retry_after_s) for p in phones]


def chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def national_number(phone: str) -> str:
    """13800001234 from +8613800001234, 8613800001234 or 13800001234 (mainland numbers)."""
    digits = phone.strip().replace(" ", "")
    if digits.startswith("+86"):
        return digits[3:]
    if digits.startswith("86") and len(digits) == 13:
        return digits[2:]
    return digits
