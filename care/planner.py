"""Planning: turn campaigns into outbox rows for one local day, deciding and recording why.

For each candidate the decision is, in order: already planned (skip) → no reachable channel
(suppressed) → marketing without consent (suppressed) → marketing over a frequency cap
(suppressed) → quiet hours (deferred to 08:00) → planned. Campaigns are planned by priority,
so a birthday greeting takes the day's marketing slot before a product promotion does.
The same code runs for ``care preview`` with ``dry_run=True``, so the preview cannot drift.

Planning is set-based per batch: one keyset-paged query per campaign brings each candidate with
its channel, consent, cap counts and "already planned" (see :meth:`_Context.decoration`); Python
only applies the rules in order and renders each distinct variable tuple once; rows go to the
outbox through :func:`care.outbox.outbox_sink` (COPY on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache, partial
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, func, literal, select, text
from sqlalchemy.orm import Session

from care import calendar as cal
from care import compliance
from care.compliance import Policy
from care.definitions import CampaignDef, from_row
from care.outbox import OutboxRow, outbox_sink
from care.render import KeyedTemplate, render, salutation
from care.sms_channel import SMS, dump_params, sms_params
from care.sources import Candidate, Decorate, age_on, candidates
from core.masking import mask_customer_name
from crm.care_access import marketing_allowed_sql
from crm.models import Branch, Campaign, Customer, Delivery, RelationshipManager
from crm.models.base import utcnow
from crm.models.care import DeliveryStatus
from crm.models.segments import SegmentMembership, SegmentVersion
from crm.models.sms import SmsReach, SmsServiceConsent
from crm.sms_templates import load_templates, segments

# A decision's status when the customer's message for this occurrence was planned before.
EXISTS = "exists"
# The customers.id column (a Core column, for the SQL rule builders in compliance/care_access).
CUSTOMER_ID: ColumnElement[int] = Customer.__table__.c.id


@dataclass
class Decision:
    campaign: str
    customer_id: int
    name_masked: str
    key: str
    status: str  # a DeliveryStatus (planned | deferred | suppressed), or EXISTS
    reason: str | None
    channel: str | None
    not_before: dt.datetime
    text: str
    variant: str | None = None
    why: str = ""
    segments: int = 0  # SMS billing segments (0 for WeChat and web chat)


@dataclass
class PlanResult:
    day: dt.date
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (campaign, status/reason)
    decisions: list[Decision] = field(default_factory=list)
    inserted: int = 0
    segment_version: int | None = None


def active_campaigns(session: Session, codes: Iterable[str] | None = None) -> list[tuple[Campaign, CampaignDef]]:
    """Active campaigns from the database, parsed, in priority order."""
    stmt = select(Campaign).where(Campaign.active.is_(True))
    if codes:
        stmt = stmt.where(Campaign.code.in_(list(codes)))
    pairs = [(row, from_row(row)) for row in session.scalars(stmt)]
    return sorted(pairs, key=lambda p: (p[1].priority, p[1].code))


def plan_day(
    session: Session,
    day: dt.date,
    *,
    policy: Policy = Policy(),
    dry_run: bool = False,
    collect: bool = True,
    codes: Iterable[str] | None = None,
    batch: int = 10000,
) -> PlanResult:
    """Plan every active campaign for local date ``day``; writes nothing when ``dry_run``."""
    result = PlanResult(day)
    result.segment_version = session.scalar(select(func.max(SegmentVersion.version)))
    ctx = _Context(session, day, policy, result.segment_version)
    ctx.collect = collect
    # A preview writes nothing, so marketing it decided must be counted in memory; a real run
    # sees its own rows through the cap counts in SQL (inserts execute at once, batch by batch),
    # so it must not count twice.
    run_caps = compliance.CapCounter({}) if dry_run else None
    if session.get_bind().dialect.name == "postgresql":
        # Each keyset page is a short index-driven query; JIT compiling it costs more (~50 ms a
        # page) than running it. SET LOCAL ends with this transaction.
        session.execute(text("SET LOCAL jit = off"))
    sink = None if dry_run else outbox_sink(session)
    try:
        for row, campaign in active_campaigns(session, codes):
            if campaign.audience.segments and result.segment_version is None:
                continue  # a segment-targeted campaign cannot run before segments are built
            decorate = ctx.decoration(campaign)
            constants = ctx.batch_constants(row, campaign)
            ctx.sms_left = ctx.sms_budget_left(row, campaign)
            # The sink writes batch k while batch k+1 is decided. Keyset pages of one pass hold
            # different customers (and keys), so page k+1's caps and "already planned" do not
            # depend on page k's rows; before a new pass (another festival the same day, another
            # reminder offset) the barrier writes everything, so its counts see all earlier rows.
            barrier = None if sink is None else sink.flush
            for batch_rows in candidates(session, campaign, day, batch, decorate, barrier):
                if sink is not None:
                    sink.start()
                try:
                    decisions, rows = ctx.decide(row, campaign, batch_rows, run_caps, result.counts)
                finally:
                    if sink is not None:
                        sink.join()
                if collect:
                    result.decisions.extend(decisions)
                if sink is not None:
                    sink.hold(constants, rows)
            if sink is not None:
                sink.flush()
                session.flush()
    finally:
        if sink is not None:
            sink.join()
    if sink is not None:
        result.inserted = sink.inserted
    return result


class _Context:
    def __init__(self, session: Session, day: dt.date, policy: Policy, segment_version: int | None) -> None:
        self.session, self.day, self.policy, self.segment_version = session, day, policy, segment_version
        self.branches = {b.id: b for b in session.scalars(select(Branch))}
        self.rms = dict(session.execute(select(RelationshipManager.id, RelationshipManager.name)).all())
        self.hours_text: dict[tuple[int, str], str] = {}
        self.collect = True  # False: skip the staff-facing fields (masked name, why) nobody will read
        self.templates: dict[tuple[str, str], KeyedTemplate] = {}
        self.now = utcnow()
        self.sms_book = load_templates()
        self.sms_texts: dict[tuple[str, tuple[str, ...]], tuple[str, int]] = {}
        self.sms_left: int | None = None  # the current campaign's SMS budget for the day

    def decoration(self, campaign: CampaignDef) -> Decorate:
        """Join everything a decision needs into the candidate query (one round trip per batch).

        Channel (the identity :func:`compliance.reachable` would pick), "already planned", and for
        marketing the consent and cap counts; segment targeting becomes EXISTS conditions.
        """
        wanted = campaign.audience.segments
        version = self.segment_version
        dialect = self.session.get_bind().dialect.name

        def decorate(stmt: Select[Any], key: ColumnElement[str]) -> Select[Any]:
            stmt, ident = compliance.reach_join(stmt, CUSTOMER_ID, dialect)
            # A scalar subquery with LIMIT is probed per row through the unique index; PostgreSQL
            # may turn a plain EXISTS into a hashed scan of the whole (growing) outbox per page.
            planned = select(Delivery.id).where(Delivery.idempotency_key == key).limit(1).scalar_subquery()
            stmt = stmt.add_columns(
                ident.id.label("identity_id"),
                ident.channel.label("reach_channel"),
                planned.is_not(None).label("already"),
            )
            if campaign.uses_sms:
                stmt = stmt.add_columns(*self._sms_columns(campaign))
            if campaign.is_marketing:
                on_day, in_week = compliance.cap_counts_sql(CUSTOMER_ID, self.day)
                stmt = stmt.add_columns(
                    marketing_allowed_sql(CUSTOMER_ID, ident.channel).label("consent"),
                    on_day.label("cap_day"),
                    in_week.label("cap_week"),
                )
            for dim, values in wanted.items():
                stmt = stmt.where(
                    exists().where(
                        SegmentMembership.version == version,
                        SegmentMembership.customer_id == CUSTOMER_ID,
                        SegmentMembership.dimension == dim,
                        SegmentMembership.value.in_(list(values)),
                    )
                )
            return stmt

        return decorate

    def _sms_columns(self, campaign: CampaignDef) -> list[ColumnElement[Any]]:
        """SMS consent (marketing: the SMS channel's marketing consent; service: the service-SMS
        consent) and whether the customer's number is marked unreachable."""
        if campaign.is_marketing:
            consent = marketing_allowed_sql(CUSTOMER_ID, literal(SMS))
        else:
            consent = exists().where(
                SmsServiceConsent.customer_id == CUSTOMER_ID, SmsServiceConsent.granted.is_(True)
            )
        unreachable = exists().where(SmsReach.phone == Customer.phone, SmsReach.unreachable_since.is_not(None))
        return [consent.label("sms_consent"), unreachable.label("sms_unreachable")]

    def sms_budget_left(self, row: Campaign, campaign: CampaignDef) -> int | None:
        """SMS the campaign may still plan today (None: no budget). Rows planned earlier today count."""
        if campaign.sms_daily_budget is None:
            return None
        used = self.session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.campaign_id == row.id,
                Delivery.local_day == self.day,
                Delivery.channel == SMS,
                Delivery.status.not_in(compliance.NOT_COUNTED),
            )
        )
        return max(0, campaign.sms_daily_budget - int(used or 0))

    def batch_constants(self, row: Campaign, campaign: CampaignDef) -> dict[str, Any]:
        """Columns equal for every outbox row of one campaign on one day."""
        send_at = compliance.local_datetime(self.day, campaign.send_time, self.policy)
        return dict(
            campaign_id=row.id,
            is_marketing=campaign.is_marketing,
            segment_version=self.segment_version,
            attempts=0,
            local_day=self.day,
            created_at=self.now,
            decided_at=self.now,
            send_at=send_at,
            deferred_to=compliance.next_allowed(send_at, self.policy),
        )

    def decide(
        self,
        row: Campaign,
        campaign: CampaignDef,
        batch: list[Candidate],
        run_caps: compliance.CapCounter | None,
        counts: Counter[tuple[str, str]],
    ) -> tuple[list[Decision], list[OutboxRow]]:
        """Decide every candidate of one batch; returns staff-facing decisions and outbox rows."""
        day, policy, collect, code = self.day, self.policy, self.collect, campaign.code
        marketing = campaign.is_marketing
        send_at = compliance.local_datetime(day, campaign.send_time, policy)
        allowed = compliance.next_allowed(send_at, policy)
        # Quiet hours depend only on the campaign's send time, so the verdict is the same for all.
        cleared = (
            (DeliveryStatus.PLANNED, None, send_at)
            if allowed == send_at
            else (DeliveryStatus.DEFERRED, "quiet_hours", allowed)
        )
        lo_campaign = max(x for x in (campaign.audience.min_age, 0) if x is not None)
        hi = campaign.audience.max_age
        promotion = campaign.kind == "promotion"
        added: dict[int, int] = {}  # marketing planned earlier in this batch (not yet in the database)
        seen: set[str] = set()
        decisions: list[Decision] = []
        rows: list[OutboxRow] = []
        for cand in batch:
            cust = cand.customer
            age = age_on(cust.birthday, day)
            lo = lo_campaign if cand.min_age is None else max(lo_campaign, cand.min_age)
            if age < lo or (hi is not None and age > hi):
                continue
            key = cust.idem_key
            if key in seen:
                continue
            seen.add(key)
            cid = cust.id
            channel: str | None = cust.reach_channel
            status: DeliveryStatus | str  # or EXISTS: planned before, nothing to write
            reason: str | None
            if cust.already:
                status, reason, not_before = EXISTS, "already_planned", send_at
            else:
                chosen, refusal = self._channel(campaign, cand)
                if chosen is None:  # the row keeps the chat channel it would have used, if any
                    status, reason, not_before = DeliveryStatus.SUPPRESSED, refusal, send_at
                else:
                    channel = chosen
                    status, reason, not_before = cleared
                    capped = None
                    if marketing:
                        extra = added.get(cid, 0)
                        on_day, in_week = cust.cap_day + extra, cust.cap_week + extra
                        if run_caps is not None:
                            on_day += run_caps.count(cid, day, 1)
                            in_week += run_caps.count(cid, day, 7)
                        capped = compliance.cap_reason(on_day, in_week, policy)
                    if capped is None and channel == SMS and self.sms_left is not None and self.sms_left <= 0:
                        capped = "sms_budget"
                    if capped is None and promotion and in_holdout(code, cid, campaign):
                        capped = HOLDOUT  # the random group not sent, to measure conversion against (#21)
                    if capped:
                        status, reason, not_before = DeliveryStatus.SUPPRESSED, capped, send_at
                    else:
                        if marketing:
                            added[cid] = added.get(cid, 0) + 1
                            if run_caps is not None:
                                run_caps.add(cid, day)
                        if channel == SMS and self.sms_left is not None:
                            self.sms_left -= 1
            counts[(code, reason or status)] += 1
            if status == EXISTS and not collect:
                continue  # nothing to write and nobody will read the text
            sms_key = campaign.sms_template_for(cand.template_key) if channel == SMS else None
            params: tuple[str, ...] = ()
            billed = 0
            if sms_key is not None:
                params = sms_params(self.sms_book.get(sms_key).params, partial(self._value, cand=cand))
                text, billed = self._sms_text(sms_key, params)
            else:
                text = self._text(campaign, cand)
            variant = cand.template_key if promotion else None
            if collect:
                decisions.append(
                    Decision(
                        code,
                        cid,
                        mask_customer_name(cust.name),
                        key,
                        status,
                        reason,
                        channel,
                        not_before,
                        text,
                        variant,
                        why(campaign, cand),
                        billed,
                    )
                )
            if isinstance(status, DeliveryStatus):
                if sms_key is not None:
                    rows.append(OutboxRow(cid, key, SMS, None, variant, text, status, reason, sms_key,
                                          dump_params(params)))
                else:
                    rows.append(
                        OutboxRow(cid, key, channel or "none", cust.identity_id, variant, text, status, reason)
                    )
        return decisions, rows

    def _channel(self, campaign: CampaignDef, cand: Candidate) -> tuple[str | None, str]:
        """The channel this message goes by under the campaign's policy, or None and why not.

        WeChat (or web chat) first where the customer follows us and, for marketing, agreed there;
        then SMS with the SMS consent to a number not marked unreachable.
        """
        cust = cand.customer
        marketing = campaign.is_marketing
        policy = campaign.channels
        chat = cust.reach_channel
        if policy != "sms_only" and chat is not None and (not marketing or cust.consent):
            return chat, ""
        if policy == "wechat_only" or campaign.sms_template_for(cand.template_key) is None:
            return None, "no_channel" if chat is None else "no_consent"
        if not cust.sms_consent:
            return None, "no_consent" if marketing else "no_sms_consent"
        if cust.sms_unreachable:
            return None, "sms_unreachable"
        return SMS, ""

    def _sms_text(self, key: str, params: tuple[str, ...]) -> tuple[str, int]:
        """The exact SMS (signature included) and its billing segments, once per distinct params."""
        found = self.sms_texts.get((key, params))
        if found is None:
            if len(self.sms_texts) > 200_000:
                self.sms_texts.clear()
            text = self.sms_book.full_text(key, params)
            found = self.sms_texts[(key, params)] = (text, segments(text))
        return found

    def _text(self, campaign: CampaignDef, cand: Candidate) -> str:
        """The rendered message, computing only the variables its template reads."""
        cache_key = (campaign.code, cand.template_key)
        tpl = self.templates.get(cache_key)
        if tpl is None:
            source = campaign.template_for(cand.template_key)
            tpl = self.templates[cache_key] = KeyedTemplate(source, marketing=campaign.is_marketing)
        try:
            values = tuple(self._value(name, cand) for name in tpl.names)
        except KeyError:  # a name the context does not have: let Jinja decide (globals, or raise)
            return render(tpl.source, self._context(cand), marketing=campaign.is_marketing)
        return tpl.text(values, lambda: self._context(cand))

    def _value(self, name: str, cand: Candidate) -> Any:
        """One context variable, exactly as :meth:`_context` would set it (extra wins, then hours)."""
        extra = cand.extra
        if name == "branch_hours_text" and extra.get("_period") is not None:
            return self._hours(self.branches.get(cand.customer.branch_id), extra["_period"])
        if name in extra and not name.startswith("_"):
            return extra[name]
        cust = cand.customer
        if name == "salutation":
            return _salutation(cust.name, cust.gender, cust.kind)
        if name == "branch_name":
            branch = self.branches.get(cust.branch_id)
            return branch.name if branch else "我行"
        if name == "branch_phone":
            branch = self.branches.get(cust.branch_id)
            return branch.phone if branch else ""
        if name == "rm_name":
            return self.rms.get(cust.rm_id, "") if cust.rm_id else ""
        if name == "name_masked":
            return mask_customer_name(cust.name)
        if name == "age":
            return age_on(cust.birthday, self.day)
        if name == "today":
            return self.day
        if name == "variant":
            return cand.template_key
        raise KeyError(name)

    def _context(self, cand: Candidate) -> dict[str, Any]:
        cust = cand.customer
        branch = self.branches.get(cust.branch_id)
        ctx: dict[str, Any] = {
            "salutation": salutation(cust.name, cust.gender, cust.kind),
            "name_masked": mask_customer_name(cust.name),
            "rm_name": self.rms.get(cust.rm_id, "") if cust.rm_id else "",
            "branch_name": branch.name if branch else "我行",
            "branch_phone": branch.phone if branch else "",
            "age": age_on(cust.birthday, self.day),
            "today": self.day,
            "variant": cand.template_key,
        }
        ctx.update({k: v for k, v in cand.extra.items() if not k.startswith("_")})
        period = cand.extra.get("_period")
        if period is not None:
            ctx["branch_hours_text"] = self._hours(branch, period)
        return ctx

    def _hours(self, branch: Branch | None, period: cal.HolidayPeriod) -> str:
        cache_key = (branch.id if branch else 0, period.start.isoformat())
        if cache_key not in self.hours_text:
            self.hours_text[cache_key] = holiday_hours_text(branch.opening_hours if branch else {}, period)
        return self.hours_text[cache_key]


@lru_cache(maxsize=65536)
def _salutation(name: str, gender: str, kind: str) -> str:
    # Names repeat a lot (a village of 张建华s); the cache keeps this off the per-customer cost.
    return salutation(name, gender, kind)


HOLDOUT = "holdout"
DEFAULT_HOLDOUT_SHARE = 0.10


def in_holdout(code: str, customer_id: int, campaign: CampaignDef) -> bool:
    """Whether the customer is in this promotion's hold-out group (``holdout_share``, 10 % unless set).

    Chosen by a hash of campaign and customer: random across customers, stable across re-plans, and
    recorded as a suppressed row (reason ``holdout``) so the report compares the two groups.
    """
    share = float(campaign.params.get("holdout_share", DEFAULT_HOLDOUT_SHARE))
    digest = hashlib.sha256(f"holdout:{code}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def why(campaign: CampaignDef, cand: Candidate) -> str:
    """Why this customer gets this message, in words staff understand."""
    from care.render import date_zh

    extra = cand.extra
    if campaign.kind == "birthday":
        return "今天生日"
    if campaign.kind == "festival":
        return f"{extra.get('festival_name', '')}问候"
    if campaign.kind == "holiday_notice":
        return f"{extra['holiday_name']}假期（{date_zh(extra['holiday_start'])}起）营业安排"
    if campaign.kind == "reminder":
        return f"{campaign.name}：{date_zh(extra['due_on'])}到期，还有{extra['days_left']}天"
    if campaign.kind == "reactivation":
        return f"已{extra.get('idle_days', '?')}天没有交易"
    if campaign.kind == "promotion":
        return f"{campaign.name}（{cand.template_key}版）"
    return campaign.name


def holiday_hours_text(opening_hours: dict[str, Any], period: cal.HolidayPeriod) -> str:
    """ "假期期间营业时间为9:00-16:00" or day ranges when hours differ across the holiday."""
    from care.render import date_zh

    days = [period.start + dt.timedelta(days=i) for i in range(period.days)]
    spans: list[tuple[dt.date, dt.date, tuple[str, str] | None]] = []
    for d in days:
        hours = cal.branch_hours(opening_hours, d)
        if spans and spans[-1][2] == hours:
            spans[-1] = (spans[-1][0], d, hours)
        else:
            spans.append((d, d, hours))

    def describe(h: tuple[str, str] | None) -> str:
        return "暂停营业" if h is None else f"营业时间为{h[0].lstrip('0')}-{h[1].lstrip('0')}"

    if len(spans) == 1:
        return f"假期期间{describe(spans[0][2])}"
    parts = []
    for start, end, hours in spans:
        label = date_zh(start) if start == end else f"{date_zh(start)}至{date_zh(end)}"
        parts.append(f"{label}{describe(hours)}")
    return "，".join(parts)
