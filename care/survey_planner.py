"""Planning survey invitations for one local day: an invitation is an outbox row like a campaign message.

For each active survey the audience (a segment, or an event some days ago, or a quarterly sample of
active customers) gives (customer, occurrence) pairs. The decision, in order: already planned
(skip) → surveyed within ``min_days_between`` days by any survey (skip) → refused contact on the
channel (suppressed) → no reachable channel (suppressed) → quiet hours (deferred) → planned. An
invitation is a service message (no marketing consent or caps) but a customer's refusal
(退订 / a refused channel) is respected. Each planned invitation also gets a ``survey_responses``
row with the same key, which the chat side opens once the outbox row was sent.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, and_, cast, exists, func, insert, select
from sqlalchemy.orm import Session

from care import compliance
from care.compliance import TZ, Policy
from care.render import render, salutation
from care.survey_defs import SurveyDef, from_row
from core.masking import mask_customer_name
from crm.models import (
    Account,
    Appointment,
    Branch,
    Customer,
    Delivery,
    Loan,
    MarketingConsent,
    RelationshipManager,
    Survey,
    SurveyResponse,
    Ticket,
    Transaction,
)
from crm.models.care import DeliveryStatus
from crm.models.segments import SegmentMembership, SegmentVersion
from crm.models.service import TicketStatus
from crm.models.sms import SmsReach, SmsServiceConsent
from crm.models.surveys import ResponseStatus
from crm.sms_templates import load_templates

SMS = "sms"  # the channel value of an SMS outbox row (as care.planner writes them)

# A quarterly (or segment) survey is planned only in the first days of a quarter: the sample is the
# same every day (stable per customer and quarter), so later days would only re-check it.
QUARTER_WINDOW_DAYS = 10
_SAMPLE_BUCKETS = 10_000


@dataclass(frozen=True)
class Invitation:
    survey: str
    customer_id: int
    name_masked: str
    key: str
    status: str  # planned | deferred | suppressed, or skipped (recently_surveyed, already_planned)
    reason: str | None
    channel: str | None
    text: str


@dataclass
class SurveyPlan:
    day: dt.date
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (survey, status/reason)
    invitations: list[Invitation] = field(default_factory=list)
    inserted: int = 0


def active_surveys(session: Session, codes: Iterable[str] | None = None) -> list[tuple[Survey, SurveyDef]]:
    stmt = select(Survey).where(Survey.active.is_(True)).order_by(Survey.code)
    if codes:
        stmt = stmt.where(Survey.code.in_(list(codes)))
    return [(row, from_row(row)) for row in session.scalars(stmt)]


def quarter_of(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def plan_surveys(
    session: Session,
    day: dt.date,
    *,
    policy: Policy = Policy(),
    dry_run: bool = False,
    codes: Iterable[str] | None = None,
) -> SurveyPlan:
    """Plan every active survey's invitations for local date ``day``; writes nothing when ``dry_run``."""
    plan = SurveyPlan(day)
    now = dt.datetime.now(dt.UTC)
    chosen_today: set[int] = set()  # one survey per customer, also among surveys planned now
    branches = {b.id: b.name for b in session.scalars(select(Branch))}
    book = load_templates()
    for row, survey in active_surveys(session, codes):
        send_at = compliance.local_datetime(day, survey.send_time, policy)
        allowed = compliance.next_allowed(send_at, policy)
        status, reason = (
            (DeliveryStatus.PLANNED, None) if allowed == send_at else (DeliveryStatus.DEFERRED, "quiet_hours")
        )
        # Outbox columns equal for every invitation of this survey today (campaign_id NULL: a
        # survey is not a campaign; its response row carries the same key).
        constants = dict(
            campaign_id=None, is_marketing=False, segment_version=None, attempts=0, local_day=day,
            created_at=now, decided_at=now, variant=None,
        )  # fmt: skip
        for pairs in _audience(session, survey, day):
            rows: list[dict[str, Any]] = []
            responses: list[dict[str, Any]] = []
            keys = {cid: f"survey:{survey.code}:{cid}:{occ}" for cid, occ in pairs}
            existing = set(
                session.scalars(select(Delivery.idempotency_key).where(Delivery.idempotency_key.in_(keys.values())))
            )
            recent = _recently_surveyed(session, list(keys), day, survey.min_days_between)
            info = _customers(session, list(keys))
            reach = compliance.reachable(session, list(keys)) if survey.channels != "sms_only" else {}
            sms_ok = _sms_reachable(session, list(keys)) if survey.uses_sms else set()
            refused = _refused(session, list(keys))
            segment = _segments(session, list(keys))
            for cid, key in keys.items():
                cust = info.get(cid)
                if cust is None:
                    continue
                if key in existing:
                    plan.counts[(survey.code, "already_planned")] += 1
                    continue
                if cid in recent or cid in chosen_today:
                    plan.counts[(survey.code, "recently_surveyed")] += 1
                    continue
                context = {
                    "salutation": salutation(cust.name, cust.gender, cust.kind),
                    "branch_name": branches.get(cust.branch_id, "我行"),
                }
                chat = reach.get(cid)
                channel: str | None = None
                why: str | None = None
                if chat is not None and chat.channel not in refused.get(cid, set()):
                    channel = chat.channel
                elif survey.uses_sms and cid in sms_ok and SMS not in refused.get(cid, set()):
                    channel = SMS
                elif refused.get(cid):
                    why = "opted_out"
                else:
                    why = "no_channel"
                row_status, row_reason = (status, reason) if channel else (DeliveryStatus.SUPPRESSED, why)
                sms_key = survey.sms_template if channel == SMS else None
                if sms_key is not None:
                    params = tuple(str(context[name]) for name in book.get(sms_key).params)
                    text = book.full_text(sms_key, params)
                    rows.append(dict(customer_id=cid, idempotency_key=key, channel=SMS, identity_id=None, text=text,
                                     sms_template=sms_key, sms_params=json.dumps(list(params), ensure_ascii=False),
                                     status=row_status.value, reason=row_reason))  # fmt: skip
                else:
                    text = invitation_text(survey, context)
                    rows.append(dict(customer_id=cid, idempotency_key=key, channel=channel or "none",
                                     identity_id=chat.identity_id if chat else None, text=text,
                                     sms_template=None, sms_params=None,
                                     status=row_status.value, reason=row_reason))  # fmt: skip
                plan.counts[(survey.code, row_reason or row_status)] += 1
                plan.invitations.append(
                    Invitation(survey.code, cid, mask_customer_name(cust.name), key, row_status, row_reason,
                               channel, text)
                )  # fmt: skip
                if channel is None:
                    continue
                chosen_today.add(cid)
                responses.append(
                    dict(
                        survey_id=row.id, customer_id=cid, delivery_key=key, channel=channel,
                        identity_id=chat.identity_id if channel != SMS and chat else None,
                        branch_id=cust.branch_id, rm_id=cust.rm_id, segment=segment.get(cid),
                        trigger=survey.audience.event, status=ResponseStatus.INVITED.value, question_index=0,
                        misses=0, invited_on=day, expires_at=allowed + dt.timedelta(days=survey.expires_days),
                        created_at=now,
                    )
                )  # fmt: skip
            if not dry_run and rows:
                for r in rows:
                    r.update(constants)
                    r["not_before"] = allowed if r["status"] == DeliveryStatus.DEFERRED else send_at
                session.execute(insert(Delivery), rows)
                plan.inserted += len(rows)
                if responses:
                    session.execute(insert(SurveyResponse), responses)
    if not dry_run:
        session.flush()
    return plan


def invitation_text(survey: SurveyDef, context: dict[str, Any]) -> str:
    """The chat invitation: the intro and the first question (answered in the customer's words)."""
    intro = render(survey.intro, context, marketing=False)
    return f"{intro}\n{survey.questions[0].prompt()}\n（不想回答的话，回复“不想答”就好。）"


def _audience(session: Session, survey: SurveyDef, day: dt.date) -> Iterator[list[tuple[int, str]]]:
    """Batches of (customer id, occurrence) for ``survey`` on ``day``."""
    aud = survey.audience
    then = day - dt.timedelta(days=aud.delay_days)
    stmt: Any  # a two-column select (customer id, event id); its type differs per event
    if aud.event == "branch_appointment":
        stmt = select(Appointment.customer_id, func.min(Appointment.id)).where(
            Appointment.on_date == then, Appointment.status.not_in(("cancelled", "canceled", "no_show"))
        ).group_by(Appointment.customer_id)
        prefix = "appt"
    elif aud.event == "loan_disbursed":
        stmt = select(Loan.customer_id, func.min(Loan.id)).where(Loan.start_on == then).group_by(Loan.customer_id)
        prefix = "loan"
    elif aud.event == "ticket_resolved":
        start = dt.datetime.combine(then, dt.time(), tzinfo=TZ)
        stmt = (
            select(Ticket.customer_id, func.max(Ticket.id))
            .where(
                Ticket.status == TicketStatus.RESOLVED,
                Ticket.customer_id.is_not(None),
                Ticket.kind.in_(list(aud.ticket_kinds)),
                Ticket.updated_at >= start,
                Ticket.updated_at < start + dt.timedelta(days=1),
            )
            .group_by(Ticket.customer_id)
        )
        prefix = "ticket"
    else:
        yield from _sampled(session, survey, day)
        return
    found = [(int(cid), f"{prefix}{ref}") for cid, ref in session.execute(stmt) if cid is not None]
    for i in range(0, len(found), 2000):
        yield found[i : i + 2000]


def _sampled(session: Session, survey: SurveyDef, day: dt.date) -> Iterator[list[tuple[int, str]]]:
    """Quarterly sample (active customers) or a segment's members, ``sample_rate`` of them.

    The sample is a stable hash of the customer id and the quarter, computed in SQL, so every day
    of the window picks the same customers and nothing is loaded that will not be asked.
    """
    aud = survey.audience
    quarter_start = dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if (day - quarter_start).days >= QUARTER_WINDOW_DAYS:
        return
    occurrence = quarter_of(day)
    salt = sum(ord(c) * 31**i for i, c in enumerate(f"{survey.code}{occurrence}")) % _SAMPLE_BUCKETS
    # BIGINT: id × 7919 overflows PostgreSQL's int4 beyond ~270,000 customers.
    bucket = (cast(Customer.id, BigInteger) * 7919 + salt) % _SAMPLE_BUCKETS
    conditions = [bucket < int(aud.sample_rate * _SAMPLE_BUCKETS)]
    if aud.event == "quarterly_sample":
        since = dt.datetime.combine(day - dt.timedelta(days=aud.active_days), dt.time(), tzinfo=TZ)
        conditions.append(
            exists().where(
                Account.customer_id == Customer.id,
                Transaction.account_id == Account.id,
                Transaction.booked_at >= since,
            )
        )
    else:
        version = session.scalar(select(func.max(SegmentVersion.version)))
        if version is None:
            return
        for dim, values in aud.segments.items():
            conditions.append(
                exists().where(
                    SegmentMembership.version == version,
                    SegmentMembership.customer_id == Customer.id,
                    SegmentMembership.dimension == dim,
                    SegmentMembership.value.in_(list(values)),
                )
            )
    last = 0
    while True:
        ids = list(
            session.scalars(
                select(Customer.id).where(Customer.id > last, and_(*conditions)).order_by(Customer.id).limit(2000)
            )
        )
        if not ids:
            return
        last = ids[-1]
        yield [(cid, occurrence) for cid in ids]


def _recently_surveyed(session: Session, ids: list[int], day: dt.date, days: int) -> set[int]:
    return set(
        session.scalars(
            select(SurveyResponse.customer_id).where(
                SurveyResponse.customer_id.in_(ids), SurveyResponse.invited_on > day - dt.timedelta(days=days)
            )
        )
    )


def _customers(session: Session, ids: list[int]) -> dict[int, Any]:
    rows = session.execute(
        select(Customer.id, Customer.name, Customer.gender, Customer.kind, Customer.branch_id, Customer.rm_id).where(
            Customer.id.in_(ids)
        )
    )
    return {r.id: r for r in rows}


def _sms_reachable(session: Session, ids: list[int]) -> set[int]:
    """Customers with the service-SMS consent whose number is not marked unreachable."""
    rows = session.execute(
        select(Customer.id).where(
            Customer.id.in_(ids),
            exists().where(SmsServiceConsent.customer_id == Customer.id, SmsServiceConsent.granted.is_(True)),
            ~exists().where(SmsReach.phone == Customer.phone, SmsReach.unreachable_since.is_not(None)),
        )
    )
    return {int(r[0]) for r in rows}


def _refused(session: Session, ids: list[int]) -> dict[int, set[str]]:
    """Channels each customer refused (退订): a refusal for ``all`` covers every channel."""
    out: dict[int, set[str]] = {}
    rows = session.execute(
        select(MarketingConsent.customer_id, MarketingConsent.channel).where(
            MarketingConsent.customer_id.in_(ids), MarketingConsent.granted.is_(False)
        )
    )
    for cid, channel in rows:
        out.setdefault(cid, set()).update(("wechat", "web", SMS) if channel == "all" else (channel,))
    return out


def _segments(session: Session, ids: list[int]) -> dict[int, str]:
    """Each customer's tier in the latest segment version (reports by segment), if segments exist."""
    version = session.scalar(select(func.max(SegmentVersion.version)))
    if version is None:
        return {}
    rows = session.execute(
        select(SegmentMembership.customer_id, SegmentMembership.value).where(
            SegmentMembership.version == version,
            SegmentMembership.dimension == "tier",
            SegmentMembership.customer_id.in_(ids),
        )
    )
    return {int(cid): str(value) for cid, value in rows}


def rm_names(session: Session) -> dict[int, str]:
    return dict(session.execute(select(RelationshipManager.id, RelationshipManager.name)).all())
