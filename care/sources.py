"""Who a campaign is for on a given day: one generator of candidates per campaign kind.

Candidates come in batches (keyset pagination over customer ids) so planning a million
customers never holds them all in memory. Each candidate carries its occurrence, which makes
the outbox key ``campaign:customer:occurrence`` unique per real-world event (this year's
birthday, this deposit's 7-day reminder ...).

Every query also selects that key as a SQL expression (column ``idem_key``) and may be widened by
the caller's ``decorate`` hook: the planner joins channel, consent, frequency-cap counts and
"already planned" into the same query, so a batch costs one round trip instead of five.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, cast, extract, func, literal, or_, select
from sqlalchemy.orm import Session

from care import calendar as cal
from care.compliance import TZ
from care.definitions import CampaignDef
from care.render import card_tail, date_zh
from crm.models import Account, Card, Customer, Loan, LoanInstallment, Product, TermDeposit, Transaction

CUSTOMER_COLUMNS = (
    Customer.id,
    Customer.name,
    Customer.gender,
    Customer.kind,
    Customer.birthday,
    Customer.occupation,
    Customer.branch_id,
    Customer.rm_id,
)


# (statement, key expression) -> statement with more columns / conditions; see module docstring.
# Any number of columns of any type (the planner's queries differ in their extra columns).
AnySelect = Select[*tuple[Any, ...]]
Decorate = Callable[[AnySelect, ColumnElement[str]], AnySelect]


def _no_decoration(stmt: AnySelect, key: ColumnElement[str]) -> AnySelect:
    return stmt


def _no_barrier() -> None:
    pass


def key_sql(campaign_code: str, occurrence: str | ColumnElement[str]) -> ColumnElement[str]:
    """The outbox key ``campaign:customer:occurrence`` as SQL (same text :func:`key_of` builds)."""
    expr = literal(f"{campaign_code}:", String) + cast(Customer.id, String) + literal(":", String)
    return expr + (literal(occurrence, String) if isinstance(occurrence, str) else occurrence)


def key_of(campaign_code: str, customer_id: int, occurrence: str) -> str:
    return f"{campaign_code}:{customer_id}:{occurrence}"


@dataclass(slots=True)
class Candidate:
    customer: Any  # a Row of CUSTOMER_COLUMNS
    occurrence: str
    template_key: str = "default"
    extra: dict[str, Any] = field(default_factory=dict)
    min_age: int | None = None


def age_on(birthday: dt.date, day: dt.date) -> int:
    return day.year - birthday.year - ((day.month, day.day) < (birthday.month, birthday.day))


def variant_for(campaign_code: str, customer_id: int, weights: dict[str, int]) -> str:
    """Stable A/B assignment: the same customer always lands in the same variant of a campaign."""
    digest = hashlib.sha256(f"{campaign_code}:{customer_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % max(1, sum(weights.values()))
    for variant in sorted(weights):
        if point < weights[variant]:
            return variant
        point -= weights[variant]
    return sorted(weights)[-1]


def _base_query(campaign: CampaignDef) -> AnySelect:
    stmt: AnySelect = select(*CUSTOMER_COLUMNS)
    if campaign.audience.kinds:
        stmt = stmt.where(Customer.kind.in_(campaign.audience.kinds))
    if campaign.audience.occupations:
        stmt = stmt.where(Customer.occupation.in_(campaign.audience.occupations))
    return stmt


def _paged(
    session: Session, stmt: AnySelect, batch: int, barrier: Callable[[], None] | None = None
) -> Iterator[Sequence[Any]]:
    """Keyset pages of ``stmt``; ``barrier`` runs before the first page (a new pass)."""
    if barrier is not None:
        barrier()
    last = 0
    # Through the Connection, not the ORM Session: these are plain column rows, and the ORM's
    # result processing cost more than the query itself at a million rows.
    conn = session.connection()
    while True:
        rows = conn.execute(stmt.where(Customer.id > last).order_by(Customer.id).limit(batch)).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def candidates(
    session: Session,
    campaign: CampaignDef,
    day: dt.date,
    batch: int = 5000,
    decorate: Decorate | None = None,
    barrier: Callable[[], None] | None = None,
) -> Iterator[list[Candidate]]:
    """Yield batches of candidates for ``campaign`` on local date ``day``.

    Each candidate's ``customer`` row has the customer columns, ``idem_key`` (the outbox key)
    and whatever ``decorate`` added. ``barrier`` is called before the first query of every
    pass over the customers (the planner writes pending rows there, see planner.plan_day);
    pages within one pass never share a customer (keyset) or an outbox key.
    """
    kind = campaign.kind
    deco = decorate or _no_decoration
    bar = barrier or _no_barrier
    if kind == "birthday":
        yield from _birthday(session, campaign, day, batch, deco, bar)
    elif kind == "festival":
        for fest in cal.festivals_on(day):
            spec = campaign.params["festivals"].get(fest.code)
            if spec is None:
                continue
            occurrence = f"{fest.code}:{day.year}"
            extra = {"festival_name": fest.name}
            key = key_sql(campaign.code, occurrence)
            stmt = deco(_base_query(campaign).add_columns(key.label("idem_key")), key)
            for rows in _paged(session, stmt, batch, bar):
                yield [Candidate(r, occurrence, fest.code, extra, spec.get("min_age")) for r in rows]
    elif kind == "holiday_notice":
        yield from _holiday(session, campaign, day, batch, deco, bar)
    elif kind == "reminder":
        yield from _reminders(session, campaign, day, batch, deco, bar)
    elif kind == "reactivation":
        yield from _reactivation(session, campaign, day, batch, deco, bar)
    elif kind == "promotion":
        yield from _promotion(session, campaign, day, batch, deco, bar)


def _birthday(
    session: Session,
    campaign: CampaignDef,
    day: dt.date,
    batch: int,
    deco: Decorate,
    bar: Callable[[], None],
) -> Iterator[list[Candidate]]:
    match = and_(
        extract("month", Customer.birthday) == day.month, extract("day", Customer.birthday) == day.day
    )
    if (day.month, day.day) == (2, 28) and not _is_leap(day.year):
        # 2月29日 birthdays are celebrated on 2月28日 in common years.
        match = or_(
            match, and_(extract("month", Customer.birthday) == 2, extract("day", Customer.birthday) == 29)
        )
    occurrence = str(day.year)
    key = key_sql(campaign.code, occurrence)
    stmt = deco(_base_query(campaign).add_columns(key.label("idem_key")).where(match), key)
    for rows in _paged(session, stmt, batch, bar):
        yield [Candidate(r, occurrence) for r in rows]


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _holiday(
    session: Session,
    campaign: CampaignDef,
    day: dt.date,
    batch: int,
    deco: Decorate,
    bar: Callable[[], None],
) -> Iterator[list[Candidate]]:
    days_before = int(campaign.params.get("days_before", 3))
    for period in cal.holiday_periods(day.year) + cal.holiday_periods(day.year + 1):
        if period.start - dt.timedelta(days=days_before) != day:
            continue
        occurrence = f"{period.name}:{period.start.isoformat()}"
        adjusted = "、".join(date_zh(d, with_weekday=True) for d in period.adjusted_workdays)
        extra = {
            "holiday_name": period.name,
            "holiday_start": period.start,
            "holiday_end": period.end,
            "adjusted_workdays_text": f"{adjusted}正常上班" if adjusted else "",
            "_period": period,
        }
        key = key_sql(campaign.code, occurrence)
        stmt = deco(_base_query(campaign).add_columns(key.label("idem_key")), key)
        for rows in _paged(session, stmt, batch, bar):
            yield [Candidate(r, occurrence, extra=extra) for r in rows]


def _reminders(
    session: Session,
    campaign: CampaignDef,
    day: dt.date,
    batch: int,
    deco: Decorate,
    bar: Callable[[], None],
) -> Iterator[list[Candidate]]:
    subject = campaign.params["subject"]
    offsets = [int(o) for o in campaign.params.get("offsets_days", [])]
    for offset in offsets:
        target = day + dt.timedelta(days=offset)
        base = dict(days_left=offset, offset_days=offset, due_on=target)
        suffix = literal(f":d{offset}", String)
        if subject == "deposit_maturity":
            key = key_sql(campaign.code, literal("td", String) + cast(TermDeposit.id, String) + suffix)
            stmt = (
                select(
                    *CUSTOMER_COLUMNS,
                    key.label("idem_key"),
                    TermDeposit.id.label("obj_id"),
                    TermDeposit.amount,
                    TermDeposit.certificate_no,
                    TermDeposit.auto_renew,
                )
                .join(TermDeposit, TermDeposit.customer_id == Customer.id)
                .where(TermDeposit.maturity_on == target, TermDeposit.status == "active")
            )

            def make(r: Any, offset: int = offset, base: dict[str, Any] = base) -> Candidate:
                return Candidate(
                    r,
                    f"td{r.obj_id}:d{offset}",
                    extra={
                        **base,
                        "amount": r.amount,
                        "certificate_tail": card_tail(r.certificate_no),
                        "auto_renew": r.auto_renew,
                    },
                )
        elif subject == "loan_due":
            key = key_sql(campaign.code, literal("inst", String) + cast(LoanInstallment.id, String) + suffix)
            stmt = (
                select(
                    *CUSTOMER_COLUMNS,
                    key.label("idem_key"),
                    LoanInstallment.id.label("obj_id"),
                    (LoanInstallment.principal + LoanInstallment.interest).label("amount"),
                )
                .join(Loan, Loan.customer_id == Customer.id)
                .join(LoanInstallment, LoanInstallment.loan_id == Loan.id)
                .where(
                    LoanInstallment.due_on == target,
                    LoanInstallment.paid_on.is_(None),
                    Loan.status != "closed",
                )
            )

            def make(r: Any, offset: int = offset, base: dict[str, Any] = base) -> Candidate:
                return Candidate(r, f"inst{r.obj_id}:d{offset}", extra={**base, "amount": r.amount})
        else:
            key = key_sql(campaign.code, literal("card", String) + cast(Card.id, String) + suffix)
            stmt = (
                select(
                    *CUSTOMER_COLUMNS,
                    key.label("idem_key"),
                    Card.id.label("obj_id"),
                    Card.card_no,
                    Card.kind.label("card_kind"),
                )
                .join(Card, Card.customer_id == Customer.id)
                .where(Card.expires_on == target, Card.status == "normal")
            )

            def make(r: Any, offset: int = offset, base: dict[str, Any] = base) -> Candidate:
                return Candidate(
                    r,
                    f"card{r.obj_id}:d{offset}",
                    extra={**base, "card_tail": card_tail(r.card_no), "card_kind": r.card_kind},
                )

        # A customer may hold several due objects, so keyset paging by customer does not apply;
        # due objects on one day are few (thousands), fetched at once.
        bar()
        rows = session.connection().execute(deco(stmt, key).order_by(Customer.id, key)).all()
        for i in range(0, len(rows), batch):
            yield [make(r) for r in rows[i : i + batch]]


def _reactivation(
    session: Session,
    campaign: CampaignDef,
    day: dt.date,
    batch: int,
    deco: Decorate,
    bar: Callable[[], None],
) -> Iterator[list[Candidate]]:
    dormant_days = int(campaign.params.get("dormant_days", 180))
    every = int(campaign.params.get("every_days", 90))
    cutoff = dt.datetime.combine(day - dt.timedelta(days=dormant_days), dt.time(), tzinfo=TZ)
    occurrence = f"p{day.toordinal() // every}"
    # Correlated (per customer, by index) rather than a GROUP BY over all transactions, which
    # would be recomputed for every keyset page.
    last_at = (
        select(func.max(Transaction.booked_at))
        .join(Account, Transaction.account_id == Account.id)
        .where(Account.customer_id == Customer.id)
        .correlate(Customer)
        .scalar_subquery()
    )
    key = key_sql(campaign.code, occurrence)
    stmt = (
        _base_query(campaign)
        .add_columns(key.label("idem_key"), last_at.label("last_at"))
        .where(Customer.opened_on <= cutoff.date())
        .where(or_(last_at.is_(None), last_at < cutoff))
    )
    for rows in _paged(session, deco(stmt, key), batch, bar):
        out = []
        for r in rows:
            idle = (day - r.last_at.astimezone(TZ).date()).days if r.last_at is not None else dormant_days
            out.append(Candidate(r, occurrence, extra={"idle_days": idle}))
        yield out


def _promotion(
    session: Session,
    campaign: CampaignDef,
    day: dt.date,
    batch: int,
    deco: Decorate,
    bar: Callable[[], None],
) -> Iterator[list[Candidate]]:
    send_on = campaign.params.get("send_on")
    if send_on is None or dt.date.fromisoformat(str(send_on)) != day:
        return
    extra: dict[str, Any] = {}
    code = campaign.params.get("product_code")
    if code:
        product = session.scalars(select(Product).where(Product.code == code)).first()
        if product is None or not product.active:
            return  # never advertise a product that is not on sale
        extra = {
            "product_name": product.name,
            "product_rate": f"{product.rate * 100:.2f}%" if product.rate is not None else "",
        }
    weights = campaign.params.get("variant_weights") or {"default": 100}
    occurrence = day.isoformat()
    key = key_sql(campaign.code, occurrence)
    stmt = deco(_base_query(campaign).add_columns(key.label("idem_key")), key)
    for rows in _paged(session, stmt, batch, bar):
        yield [Candidate(r, occurrence, variant_for(campaign.code, r.id, weights), extra) for r in rows]
