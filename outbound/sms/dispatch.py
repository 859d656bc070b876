"""Campaign SMS through a provider, in batches, at most once per outbox key (#22).

The dispatcher hands over a claimed batch of SMS rows (:meth:`SmsDispatchSender.send_sms_batch`):

1. **Reserve** every key in one committed transaction before any request (``sms_messages``,
   :func:`crm.access.sms_delivery.reserve_many`): keys the provider accepted before are answered
   ``sent`` without a request; each reserved row is stamped with its request's context.
2. **Send** the rest grouped by template and identical parameters, one provider request per group
   (Tencent: up to 200 numbers), groups in parallel on a few threads (the SDKs block).
3. **Record** the provider's answer per number in one transaction.

A dispatcher killed between 1 and 3 leaves rows reserved and unanswered. When their outbox rows
are claimed again, the provider is asked whether the earlier request's context reached the
number (Tencent ``PullSmsSendStatusByPhoneNumber``): found means sent (never again); not found,
once the provider has had ``settle_s`` to list it, means the request never left and the SMS is
sent now. A provider that cannot be asked gets nothing re-sent: the row fails as
``ambiguous_after_crash`` for staff to check (sending nothing twice matters more to the bank).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from core.db import session_scope
from crm.access.sms_delivery import Reservation, SmsToSend, record_many, reserve_many, restamp
from crm.models import utcnow
from crm.sms_templates import TemplateBook, TemplateError, load_templates, segments
from outbound.contract import DeliveryView, SendOutcome
from outbound.sms.results import SmsProvider, SmsResult

log = logging.getLogger(__name__)
_SENT = SendOutcome.sent()  # frozen: one shared instance instead of one per number


class LookupProvider(Protocol):
    def find_sent(self, phone: str, context: str, since: dt.datetime) -> SmsResult | None: ...


class SmsDispatchSender:
    """Implements :class:`outbound.contract.BatchSmsSender` over one provider.

    Args:
        factory: crm sessions (``sms_messages``).
        make_provider: a new adapter (one per worker thread: an adapter holds one HTTP session).
        workers: provider requests in flight at once.
        settle_s: how long after a lost answer the provider surely lists what it accepted.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        make_provider: Callable[[], SmsProvider],
        *,
        workers: int = 4,
        settle_s: float = 600.0,
        book: TemplateBook | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.factory, self.make_provider, self.settle_s, self.clock = factory, make_provider, settle_s, clock
        self.book = book or load_templates()
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sms-send")
        self.provider_name = make_provider().name

    def _provider(self) -> SmsProvider:
        provider = getattr(self._local, "provider", None)
        if provider is None:
            provider = self._local.provider = self.make_provider()
        return provider

    async def send_sms_batch(self, deliveries: list[DeliveryView]) -> list[SendOutcome]:
        return await asyncio.to_thread(self.send_now, deliveries)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # --- the three steps ---------------------------------------------------------------------

    def send_now(self, deliveries: Sequence[DeliveryView]) -> list[SendOutcome]:
        """Reserve, send and record ``deliveries``; one outcome each, in order (blocking)."""
        outcomes: dict[str, SendOutcome] = {}
        items: list[SmsToSend] = []
        by_key: dict[str, DeliveryView] = {}
        # A claim of thousands shares a few templates and parameter lists: check each pair once.
        problems: dict[tuple[str | None, tuple[str, ...]], str | None] = {}
        for d in deliveries:
            if d.idempotency_key in by_key:
                continue
            by_key[d.idempotency_key] = d
            pair = (d.sms_template, d.sms_params)
            if pair not in problems:
                problems[pair] = self._template_problem(d)
            problem = "sms_no_phone" if not d.phone else problems[pair]
            if problem:
                outcomes[d.idempotency_key] = SendOutcome.failed(problem)
                continue
            items.append(SmsToSend(d.idempotency_key, d.phone or "", d.sms_template or "",
                                   segments(d.text), d.customer_id))
        context = uuid.uuid4().hex
        now = self.clock()
        with session_scope(self.factory) as session:
            reservations = reserve_many(session, items, provider=self.provider_name, context=context, now=now)
        to_send: list[DeliveryView] = []
        unanswered: list[tuple[DeliveryView, Reservation]] = []
        for r in reservations:
            view = by_key[r.key]
            if r.state == "send":
                to_send.append(view)
            elif r.state == "accepted":
                outcomes[r.key] = _SENT
            elif r.state == "failed":
                outcomes[r.key] = SendOutcome.failed(f"sms_{r.code or 'failed'}")
            else:
                unanswered.append((view, r))
        recorded: list[tuple[str, str, str, str]] = []
        if unanswered:
            resend = self._settle(unanswered, outcomes, recorded, now)
            if resend:
                with session_scope(self.factory) as session:
                    restamp(session, [v.idempotency_key for v in resend], context, now)
                to_send += resend
        for view, result in self._send_groups(to_send, context):
            recorded.append((view.idempotency_key, result.outcome, result.code, result.provider_message_id))
            outcomes[view.idempotency_key] = _outcome(result)
        with session_scope(self.factory) as session:
            record_many(session, recorded, self.clock())
        return [outcomes[d.idempotency_key] for d in deliveries]

    def _template_problem(self, d: DeliveryView) -> str | None:
        try:
            template = self.book.get(d.sms_template or "")
            template.render(d.sms_params)
        except TemplateError:
            return "sms_template_invalid"
        return None

    def _settle(
        self,
        unanswered: list[tuple[DeliveryView, Reservation]],
        outcomes: dict[str, SendOutcome],
        recorded: list[tuple[str, str, str, str]],
        now: dt.datetime,
    ) -> list[DeliveryView]:
        """Find out what became of SMS whose request lost its answer; returns those to send now."""
        provider = self._provider()
        find = getattr(provider, "find_sent", None)
        resend: list[DeliveryView] = []
        for view, r in unanswered:
            key = view.idempotency_key
            if find is None:
                recorded.append((key, "failed", "ambiguous_after_crash", ""))
                outcomes[key] = SendOutcome.failed("ambiguous_after_crash")
                continue
            since = (r.reserved_at or now) - dt.timedelta(minutes=5)
            try:
                found = find(view.phone or "", r.context, since)
            except Exception as exc:  # the provider cannot answer now: ask again later
                log.warning("短信发送记录查询失败 %s", type(exc).__name__)
                outcomes[key] = SendOutcome.retry("sms_lookup_failed", 60.0)
                continue
            if found is not None:
                recorded.append((key, "sent", "Ok", found.provider_message_id))
                outcomes[key] = _SENT
                continue
            waited = (now - (r.reserved_at or now)).total_seconds()
            if waited < self.settle_s:
                outcomes[key] = SendOutcome.retry("sms_unanswered_waiting", self.settle_s - waited)
            else:
                resend.append(view)
        return resend

    def _send_groups(self, views: list[DeliveryView], context: str) -> list[tuple[DeliveryView, SmsResult]]:
        """One request per template + parameters (Tencent: one parameter list per request); with
        Alibaba Cloud, differing parameters share ``SendBatchSms`` requests (100 numbers each).
        A number appears once per request."""
        per_number = self.provider_name == "aliyun"
        groups: dict[tuple[str, tuple[str, ...], int], list[DeliveryView]] = {}
        seen: dict[tuple[str, tuple[str, ...], str], int] = {}
        for v in views:
            base = (v.sms_template or "", () if per_number else v.sms_params)
            n = seen.get((*base, v.phone or ""), 0)
            seen[(*base, v.phone or "")] = n + 1
            groups.setdefault((*base, n), []).append(v)

        def send(group: list[DeliveryView]) -> list[tuple[DeliveryView, SmsResult]]:
            first = group[0]
            template = self.book.get(first.sms_template or "")
            provider = self._provider()
            personalized = getattr(provider, "send_personalized", None)
            if per_number and personalized is not None and len({v.sms_params for v in group}) > 1:
                results = personalized(template, [(v.phone or "", v.sms_params) for v in group], context=context)
            else:
                results = provider.send_batch(template, [v.phone or "" for v in group], first.sms_params,
                                              context=context)
            return list(zip(group, results, strict=True))

        out: list[tuple[DeliveryView, SmsResult]] = []
        for part in self._pool.map(send, list(groups.values())):
            out += part
        return out


def _outcome(result: SmsResult) -> SendOutcome:
    if result.outcome == "sent":
        return _SENT
    if result.outcome == "retry":
        return SendOutcome.retry(f"sms_{result.code}", result.retry_after_s)
    return SendOutcome.failed(f"sms_{result.code}")
