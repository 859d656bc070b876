"""The SMS providers' callbacks (#22): delivery reports (状态回执) and inbound replies (上行短信).

Tencent Cloud and Alibaba Cloud push to URLs configured in their consoles. Neither signs its
pushes, so the URL carries a shared secret: configure ``{PUBLIC_URL}/sms/tencent/report?token=...``
with the value of ``SMS_CALLBACK_TOKEN`` (compared in constant time). Without a token only the
local sandbox (``SMS_BACKEND=sandbox``) may push, to a gateway only this machine reaches
(``Settings.exposed`` false); otherwise every push is refused until one is set.

- A report updates the SMS's row and its campaign outbox row (delivered, or failed with the
  carrier's code); repeated hard failures (空号, 停机) mark the number unreachable.
- A reply is stored; R/T/TD/退订 stops marketing by SMS at once (audited); any other reply is
  credited to the care message it answers (reply rate), unless it answers an SMS survey
  (:func:`gateway.surveys.answer_from_sms` records it; the thanks go back by SMS as the
  ``survey_thanks`` template after the transaction, :mod:`gateway.sms_survey_thanks`).

A body that is not the provider's format is a 400; a report that overtook the dispatcher's record
of its send a 503 (the providers push again; applying a report twice counts it once); the
provider's acknowledgement otherwise.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import run_in_session
from crm.access.consent import opt_out_sms_marketing
from crm.access.sms_delivery import apply_delivery_report, record_inbound_sms, report_too_early
from crm.care_access import record_reply
from crm.models import Customer
from gateway.keys import SESSION_FACTORY, SETTINGS
from gateway.sms_survey_thanks import SurveyThanks, SurveyThanksSender
from gateway.surveys import answer_from_sms
from outbound.sms.callbacks import (
    ALIYUN_ACK,
    TENCENT_ACK,
    CallbackError,
    DeliveryReport,
    InboundReply,
    parse_aliyun_replies,
    parse_aliyun_reports,
    parse_tencent_replies,
    parse_tencent_reports,
)
from outbound.sms.config import make_sms_provider

log = logging.getLogger(__name__)
OPT_OUT_SOURCE = "短信退订"
SURVEY_THANKS = web.AppKey("sms_survey_thanks", SurveyThanksSender)


def _authorised(request: web.Request) -> bool:
    settings = request.app[SETTINGS]
    expected = settings.sms_callback_token  # SMS_CALLBACK_TOKEN (core/settings.py)
    if not expected:
        # Only the local sandbox pushes without a token, and only to a gateway nobody else can
        # reach: an exposed one would take anyone's forged 退订 or delivery report for any phone.
        return settings.sms_backend == "sandbox" and not settings.exposed
    given = request.query.get("token", "")
    return hmac.compare_digest(given.encode(), expected.encode())


def apply_reports(session: Session, reports: Sequence[DeliveryReport]) -> int:
    """Apply each report; returns how many came too early (their send's answer not yet recorded:
    the provider is asked to push them again). Applying a report twice counts it once."""
    early = 0
    for r in reports:
        if report_too_early(session, provider=r.provider, provider_message_id=r.provider_message_id, phone=r.phone):
            early += 1
            continue
        apply_delivery_report(
            session, provider=r.provider, provider_message_id=r.provider_message_id, phone=r.phone,
            delivered=r.delivered, code=r.code or r.description, hard_failure=r.hard_failure,
        )
    return early


def apply_replies(session: Session, replies: Sequence[InboundReply]) -> list[SurveyThanks]:
    """Store each reply; opt-outs stop SMS marketing, other replies count as answers. Returns the
    survey answers among them, to thank by SMS once this transaction has committed."""
    thanks: list[SurveyThanks] = []
    for reply in replies:
        row = record_inbound_sms(session, provider=reply.provider, phone=reply.phone, text=reply.text,
                                 is_opt_out=reply.is_opt_out)
        if reply.is_opt_out:
            opt_out_sms_marketing(session, reply.phone, OPT_OUT_SOURCE)
            continue
        if answer_from_sms(session, reply.phone, reply.text) is not None:
            # An answer to an SMS survey invitation, recorded by the survey module.
            thanks.append(SurveyThanks(reply.phone, row.id, row.customer_id))
            continue
        for customer_id in session.scalars(select(Customer.id).where(Customer.phone == reply.phone)):
            record_reply(session, customer_id)
    return thanks


def _route(
    parse: Callable[[bytes], Sequence[Any]],
    apply: Callable[[Session, Sequence[Any]], object],
    ack: dict[str, Any],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        if not _authorised(request):
            return web.json_response({"result": 1, "errmsg": "forbidden"}, status=403)
        try:
            items = parse(await request.read())
            if not all(r.phone.isdigit() and 5 <= len(r.phone) <= 20 for r in items):
                raise CallbackError("手机号格式不对")
        except CallbackError as exc:
            return web.json_response({"result": 1, "errmsg": str(exc)}, status=400)
        outcome = await run_in_session(request.app[SESSION_FACTORY], lambda s: apply(s, items))
        if isinstance(outcome, list):  # replies: survey answers to thank
            request.app[SURVEY_THANKS].send_soon(request.app[SESSION_FACTORY], outcome)
        elif outcome:
            # Reports that overtook the dispatcher's record of the send: the providers push again
            # after an error answer (the others are applied and will be counted once).
            return web.json_response({"result": 1, "errmsg": "retry later"}, status=503,
                                     headers={"Retry-After": "1"})
        return web.json_response(ack)

    return handler


def setup_sms_callbacks(app: web.Application) -> None:
    """The four callback routes (paths as outbound/sms/sandbox/app.py pushes them)."""
    routes = (
        ("/sms/tencent/report", parse_tencent_reports, apply_reports, TENCENT_ACK),
        ("/sms/tencent/reply", parse_tencent_replies, apply_replies, TENCENT_ACK),
        ("/sms/aliyun/report", parse_aliyun_reports, apply_reports, ALIYUN_ACK),
        ("/sms/aliyun/reply", parse_aliyun_replies, apply_replies, ALIYUN_ACK),
    )
    for path, parse, apply, ack in routes:
        app.router.add_post(path, _route(parse, apply, ack))
    app[SURVEY_THANKS] = SurveyThanksSender(lambda: make_sms_provider(app[SETTINGS]))
