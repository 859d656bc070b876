"""The thanks for a survey answered by SMS, sent back by SMS through ``SMS_BACKEND`` (#22).

:func:`gateway.surveys.answer_from_sms` returns the survey's own closing words, but a provider
only carries registered templates (crm/sms_templates.yml), so the reply goes as ``survey_thanks``
(no parameters: fits a thanks and a polite goodbye alike). It is sent after the callback's
transaction has committed, off the event loop, keyed on the inbound SMS (``survey_thanks:<id>``,
recorded in ``sms_messages`` like every provider send, so its delivery report finds it and a key
is never sent twice). A refused or failed send is logged and not retried: a courtesy, not a
message the customer is waiting for.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from core.db import session_scope
from crm.access.sms_delivery import record_send_outcome, reserve_sms
from crm.sms_templates import SmsTemplate, load_templates
from outbound.sms.results import SmsProvider, national_number

log = logging.getLogger(__name__)
TEMPLATE = "survey_thanks"


@dataclass(frozen=True)
class SurveyThanks:
    """One SMS survey answer to thank; ``inbound_id`` (the 上行短信 row) keys the send."""

    phone: str
    inbound_id: int
    customer_id: int | None = None

    @property
    def delivery_key(self) -> str:
        return f"{TEMPLATE}:{self.inbound_id}"


class SurveyThanksSender:
    """Sends ``survey_thanks`` on worker threads; the provider is made at the first send."""

    def __init__(self, make_provider: Callable[[], SmsProvider]) -> None:
        self.make_provider = make_provider
        self._provider: SmsProvider | None = None
        self.tasks: set[asyncio.Task[None]] = set()  # kept so they are not collected mid-send

    def send_soon(self, factory: sessionmaker[Session], thanks: Sequence[SurveyThanks]) -> None:
        """Start sending (the caller acknowledges the provider's push without waiting)."""
        if not thanks:
            return
        task = asyncio.get_running_loop().create_task(asyncio.to_thread(self.send_all, factory, thanks))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Wait for the sends under way (tests, shutdown)."""
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    def send_all(self, factory: sessionmaker[Session], thanks: Sequence[SurveyThanks]) -> None:
        try:
            provider = self._provider = self._provider or self.make_provider()
        except Exception as exc:  # e.g. an incomplete provider account: said once per batch, never raised
            log.warning("调查致谢短信未发出：短信通道不可用 (%s)", type(exc).__name__)
            return
        book = load_templates()
        template = book.get(TEMPLATE)
        segments = book.segments(TEMPLATE, ())
        for item in thanks:
            try:
                self._send_one(factory, provider, template, segments, item)
            except Exception:  # one failure must not stop the others; the number is never logged
                log.exception("调查致谢短信发送出错 key=%s", item.delivery_key)

    @staticmethod
    def _send_one(factory: sessionmaker[Session], provider: SmsProvider, template: SmsTemplate, segments: int,
                  item: SurveyThanks) -> None:
        number = national_number(item.phone)
        with session_scope(factory) as session:  # committed before the request: a fast report finds it
            row = reserve_sms(session, delivery_key=item.delivery_key, phone=number, provider=provider.name,
                              template_key=TEMPLATE, segments=segments, customer_id=item.customer_id)
            if row is None:
                return  # accepted before under this key
        (result,) = provider.send_batch(template, [number], (), context=uuid.uuid4().hex)
        with session_scope(factory) as session:
            record_send_outcome(session, item.delivery_key, outcome=result.outcome, code=result.code,
                                provider_message_id=result.provider_message_id)
        if result.outcome != "sent":
            log.warning("调查致谢短信未发出 code=%s", result.code)
