"""Binding codes by the SMS provider (#22): the ``binding_code`` template with the code and its
minutes, through the adapter of ``SMS_BACKEND``.

:func:`make_otp_sender` is what the action server uses: the demo's sandbox sender (codes
readable in ``sms_outbox`` for ``bankcare sms-inbox``) for ``SMS_BACKEND=sandbox``, the provider
otherwise. The limits per phone, identity and address stay where they are
(:func:`crm.sms.send_binding_code` checks them before any sender is called).

The provider sender keeps the code nowhere readable: ``sms_messages`` records the send (template,
status, the provider's message id, so delivery reports find it) and ``sms_outbox`` the text with
the code replaced by ``******`` (:func:`crm.sms.storable_text`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import Settings
from crm.access.identity import CODE_TTL
from crm.access.sms_delivery import SmsToSend, record_many, reserve_many
from crm.models import SmsOutbox
from crm.sms import SandboxSmsSender, SmsSender, storable_text
from crm.sms_templates import load_templates, segments
from outbound.sms.config import make_sms_provider
from outbound.sms.results import SmsProvider, national_number

log = logging.getLogger(__name__)
TEMPLATE = "binding_code"


class ProviderOtpSender:
    """Implements :class:`crm.sms.SmsSender` for a real provider (one request per code)."""

    def __init__(self, make_provider: Callable[[], SmsProvider]) -> None:
        self.make_provider = make_provider
        self._provider: SmsProvider | None = None
        self.book = load_templates()

    def send(self, session: Session, phone: str, text: str, idempotency_key: str, *, secret: str | None = None) -> None:
        if not secret:
            raise ValueError("binding code SMS need the code (secret=)")
        if session.scalar(select(SmsOutbox.id).where(SmsOutbox.idempotency_key == idempotency_key)) is not None:
            return  # sent before under this key
        provider = self._provider = self._provider or self.make_provider()
        template = self.book.get(TEMPLATE)
        params = (secret, str(int(CODE_TTL.total_seconds() // 60)))
        number = national_number(phone)
        shown = self.book.full_text(TEMPLATE, params)
        context = uuid.uuid4().hex
        reserve_many(session, [SmsToSend(idempotency_key, number, TEMPLATE, segments(shown))],
                     provider=provider.name, context=context)
        result = provider.send_batch(template, [number], params, context=context)[0]
        record_many(session, [(idempotency_key, result.outcome, result.code, result.provider_message_id)])
        session.add(SmsOutbox(phone=number, text=storable_text(shown, secret), idempotency_key=idempotency_key,
                              attempts=1))
        session.flush()
        if result.outcome != "sent":
            # The reply to the customer stays the same (it never says whether a number is a
            # customer's); they may ask again once the limits allow.
            log.warning("验证码短信未发出 code=%s", result.code)


def make_otp_sender(settings: Settings) -> SmsSender:
    """The binding-code sender for ``SMS_BACKEND`` (ConfigError when the provider's account is incomplete)."""
    if settings.sms_backend == "sandbox":
        return SandboxSmsSender()
    make_sms_provider(settings)  # fail now, not at the first customer's code
    return ProviderOtpSender(lambda: make_sms_provider(settings))
