"""Planning: turn campaigns into outbox rows for one local day, deciding and recording why.

For each candidate the decision is, in order: already planned (skip) → no reachable channel
(suppressed) → marketing without consent (suppressed) → marketing over a frequency cap
(suppressed) → quiet hours (deferred to 08:00) → planned. Campaigns are planned by priority,
so a birthday greeting takes the day's marketing slot before a product promotion does.
The same code runs for ``care preview`` with ``dry_run=True``, so the preview cannot drift.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from care_scheduler import calendar as cal
from care_scheduler import compliance
from care_scheduler.compliance import Policy
from care_scheduler.definitions import CampaignDef, from_row
from care_scheduler.render import mask_name, render, salutation
from care_scheduler.sources import Candidate, age_on, candidates
from crm.care_access import marketing_allowed
from crm.models import Branch, Campaign, Delivery, RelationshipManager
from crm.models.base import utcnow
from crm.models.segments import SegmentMembership, SegmentVersion


@dataclass
class Decision:
    campaign: str
    customer_id: int
    name_masked: str
    key: str
    status: str  # planned | deferred | suppressed | exists
    reason: str | None
    channel: str | None
    not_before: dt.datetime
    text: str
    variant: str | None = None
    why: str = ""


@dataclass
class PlanResult:
    day: dt.date
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (campaign, status/reason)
    decisions: list[Decision] = field(default_factory=list)
    inserted: int = 0
    segment_version: int | None = None


def active_campaigns(
    session: Session, codes: Iterable[str] | None = None
) -> list[tuple[Campaign, CampaignDef]]:
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
    batch: int = 5000,
) -> PlanResult:
    """Plan every active campaign for local date ``day``; writes nothing when ``dry_run``."""
    result = PlanResult(day)
    result.segment_version = session.scalar(select(func.max(SegmentVersion.version)))
    ctx = _Context(session, day, policy, result.segment_version)
    ctx.collect = collect
    # A preview writes nothing, so marketing it decided must be counted in memory; a real run
    # sees its own rows through load_caps (inserts execute at once), so it must not count twice.
    run_caps = compliance.CapCounter({}) if dry_run else None
    for row, campaign in active_campaigns(session, codes):
        for batch_rows in candidates(session, campaign, day, batch):
            decisions, rows = ctx.decide(row, campaign, batch_rows, run_caps)
            for d in decisions:
                result.counts[(campaign.code, d.reason or d.status)] += 1
            if collect:
                result.decisions.extend(decisions)
            if rows and not dry_run:
                result.inserted += _insert_ignore(session, rows)
        if not dry_run:
            session.flush()
    return result


class _Context:
    def __init__(self, session: Session, day: dt.date, policy: Policy, segment_version: int | None) -> None:
        self.session, self.day, self.policy, self.segment_version = session, day, policy, segment_version
        self.branches = {b.id: b for b in session.scalars(select(Branch))}
        self.rms = dict(session.execute(select(RelationshipManager.id, RelationshipManager.name)).all())
        self.hours_text: dict[tuple[int, str], str] = {}
        self.collect = True  # False: skip the staff-facing fields (masked name, why) nobody will read

    def decide(
        self,
        row: Campaign,
        campaign: CampaignDef,
        batch: list[Candidate],
        run_caps: compliance.CapCounter | None,
    ) -> tuple[list[Decision], list[dict[str, Any]]]:
        batch = [c for c in batch if self._in_audience(campaign, c)]
        batch = self._segment_filter(campaign, batch)
        ids = [c.customer.id for c in batch]
        keys = {f"{campaign.code}:{c.customer.id}:{c.occurrence}": c for c in batch}
        existing = (
            set(
                self.session.scalars(
                    select(Delivery.idempotency_key).where(Delivery.idempotency_key.in_(list(keys)))
                )
            )
            if keys
            else set()
        )
        reach = compliance.reachable(self.session, ids)
        caps = compliance.load_caps(self.session, ids, self.day) if campaign.is_marketing else None
        if caps is not None and run_caps is not None:
            for cid in ids:
                for d, n in run_caps.by_day.get(cid, {}).items():
                    caps.by_day[cid][d] = caps.by_day[cid].get(d, 0) + n
        consent: dict[str, dict[int, bool]] = {}
        if campaign.is_marketing:
            for channel in {r.channel for r in reach.values()}:
                consent[channel] = marketing_allowed(self.session, ids, channel)
        send_at = compliance.local_datetime(self.day, campaign.send_time, self.policy)
        now = utcnow()
        decisions: list[Decision] = []
        rows: list[dict[str, Any]] = []
        for key, cand in keys.items():
            cust = cand.customer
            text = render(
                campaign.template_for(cand.template_key),
                self._context(cust, cand),
                marketing=campaign.is_marketing,
            )
            status, reason, not_before = "planned", None, send_at
            r = reach.get(cust.id)
            if key in existing:
                status, reason = "exists", "already_planned"
            elif r is None:
                status, reason = "suppressed", "no_channel"
            elif campaign.is_marketing and not consent[r.channel].get(cust.id, False):
                status, reason = "suppressed", "no_consent"
            elif campaign.is_marketing and caps is not None:
                reason = caps.check(cust.id, self.day, self.policy)
                status = "suppressed" if reason else status
            if status == "planned":
                allowed = compliance.next_allowed(send_at, self.policy)
                if allowed != send_at:
                    status, reason, not_before = "deferred", "quiet_hours", allowed
                if caps is not None:
                    caps.add(cust.id, self.day)
                if campaign.is_marketing and run_caps is not None:
                    run_caps.add(cust.id, self.day)
            variant = cand.template_key if campaign.kind == "promotion" else None
            decisions.append(
                Decision(
                    campaign.code,
                    cust.id,
                    mask_name(cust.name) if self.collect else "",
                    key,
                    status,
                    reason,
                    r.channel if r else None,
                    not_before,
                    text,
                    variant,
                    why(campaign, cand) if self.collect else "",
                )
            )
            if status != "exists":
                rows.append(
                    dict(
                        campaign_id=row.id,
                        customer_id=cust.id,
                        idempotency_key=key,
                        channel=r.channel if r else "none",
                        identity_id=r.identity_id if r else None,
                        is_marketing=campaign.is_marketing,
                        variant=variant,
                        segment_version=self.segment_version,
                        text=text,
                        status=status,
                        reason=reason,
                        not_before=not_before,
                        attempts=0,
                        local_day=self.day,
                        created_at=now,
                        decided_at=now,
                    )
                )
        return decisions, rows

    def _in_audience(self, campaign: CampaignDef, cand: Candidate) -> bool:
        age = age_on(cand.customer.birthday, self.day)
        lo = max(x for x in (campaign.audience.min_age, cand.min_age, 0) if x is not None)
        hi = campaign.audience.max_age
        return age >= lo and (hi is None or age <= hi)

    def _segment_filter(self, campaign: CampaignDef, batch: list[Candidate]) -> list[Candidate]:
        wanted = campaign.audience.segments
        if not wanted or not batch:
            return batch
        if self.segment_version is None:
            return []  # a segment-targeted campaign cannot run before segments are built
        ids = [c.customer.id for c in batch]
        member: dict[int, dict[str, str]] = {}
        for cid, dim, value in self.session.execute(
            select(SegmentMembership.customer_id, SegmentMembership.dimension, SegmentMembership.value).where(
                SegmentMembership.version == self.segment_version,
                SegmentMembership.customer_id.in_(ids),
                SegmentMembership.dimension.in_(list(wanted)),
            )
        ):
            member.setdefault(cid, {})[dim] = value
        return [
            c
            for c in batch
            if all(member.get(c.customer.id, {}).get(dim) in values for dim, values in wanted.items())
        ]

    def _context(self, cust: Any, cand: Candidate) -> dict[str, Any]:
        branch = self.branches.get(cust.branch_id)
        ctx: dict[str, Any] = {
            "salutation": salutation(cust.name, cust.gender, cust.kind),
            "name_masked": mask_name(cust.name),
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


def why(campaign: CampaignDef, cand: Candidate) -> str:
    """Why this customer gets this message, in words staff understand."""
    from care_scheduler.render import date_zh

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
    from care_scheduler.render import date_zh

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


def _insert_ignore(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert outbox rows, skipping keys that exist already (a concurrent planner, a re-run)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        return int(session.connection().execute(insert(Delivery.__table__), rows).rowcount or 0)
    table = Delivery.__table__
    # RETURNING counts what was really inserted (executemany rowcount is unreliable across drivers).
    stmt = (
        dialect_insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id)
    )
    return len(session.connection().execute(stmt, rows).all())
