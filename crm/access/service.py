"""Side-effect service flows: card loss reports, branch appointments and complaint tickets.

Every flow is idempotent: the caller passes a key derived from the conversation (sender and the
confirming message), the key is unique in its table, and a repeated or retried request returns
the first result instead of acting again. Every action leaves an AuditEvent.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.masking import mask_card
from crm.access.branches import BranchInfo, get_branch, hours_on, next_open_day
from crm.access.identity import VerifiedCustomer
from crm.access.windows import half_of, window_times
from crm.errors import CrmError, NotFound
from crm.models import (
    Appointment,
    AuditEvent,
    Card,
    Customer,
    LossReport,
    RelationshipManager,
    Ticket,
    utcnow,
)
from crm.timeparse import SHANGHAI

BOOKING_HORIZON_DAYS = 30


class AppointmentRefused(CrmError):
    """The branch cannot take this booking; ``reason`` is closed | full | window_full | window_closed |
    past | too_far."""

    code = "appointment_refused"

    def __init__(
        self, reason: str, suggestion: dt.date | None = None, day: dt.date | None = None, window: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.suggestion = suggestion
        self.day = day  # the day and window refused (window reasons)
        self.window = window


@dataclass(frozen=True)
class CardChoice:
    id: int
    masked: str
    tail: str
    kind: str
    status: str


@dataclass(frozen=True)
class LossResult:
    ref: str
    card: str
    already: bool  # the card had been reported before; nothing changed now


@dataclass(frozen=True)
class AppointmentResult:
    ref: str
    branch: str
    address: str
    on_date: dt.date
    hours: tuple[str, str]
    service: str
    already: bool
    window: str | None = None  # 上午 / 下午 / "09:00-10:00" (crm.access.windows); None = any time that day


@dataclass(frozen=True)
class TicketResult:
    ref: str
    rm_name: str | None
    already: bool


@dataclass(frozen=True)
class TicketView:
    """A ticket as the customer may see it: reference, where it stands, category, when filed."""

    ref: str
    status: str
    category: str
    created_at: dt.datetime  # Asia/Shanghai
    resolution: str | None = None  # what the RM wrote on resolving it (#21)


def _ref(prefix: str, now: dt.datetime) -> str:
    local = now.astimezone(SHANGHAI)
    return f"{prefix}{local:%Y%m%d}{secrets.randbelow(10**6):06d}"


def cards(session: Session, who: VerifiedCustomer) -> list[CardChoice]:
    rows = session.scalars(select(Card).where(Card.customer_id == who.customer_id).order_by(Card.id))
    return [CardChoice(c.id, mask_card(c.card_no), c.card_no[-4:], c.kind, c.status) for c in rows]


def _existing(session: Session, model: type, key: str) -> object | None:
    return session.scalar(select(model).where(model.idempotency_key == key))  # type: ignore[attr-defined]


def report_loss(
    session: Session,
    who: VerifiedCustomer,
    card_tail: str,
    idempotency_key: str,
    now: dt.datetime | None = None,
) -> LossResult:
    """Freeze the customer's card ending in ``card_tail`` (挂失) exactly once.

    Raises:
        NotFound: no card of this customer ends in ``card_tail``.
    """
    now = now or utcnow()
    previous = _existing(session, LossReport, idempotency_key)
    if isinstance(previous, LossReport):
        card = session.get(Card, previous.card_id)
        return LossResult(previous.ref, mask_card(card.card_no if card else ""), already=True)
    card = session.scalar(
        select(Card).where(Card.customer_id == who.customer_id, Card.card_no.endswith(card_tail)).limit(1)
    )
    if card is None or len(card_tail) != 4:
        raise NotFound("card")
    if card.status == "lost":
        earlier = session.scalar(
            select(LossReport).where(LossReport.card_id == card.id).order_by(LossReport.id.desc()).limit(1)
        )
        if earlier is not None:
            return LossResult(earlier.ref, mask_card(card.card_no), already=True)
    report = LossReport(
        ref=_ref("GS", now),
        customer_id=who.customer_id,
        card_id=card.id,
        idempotency_key=idempotency_key,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(report)
            session.flush()
    except IntegrityError:
        # A concurrent retry with the same key won the race: report its result.
        winner = _existing(session, LossReport, idempotency_key)
        assert isinstance(winner, LossReport)
        return LossResult(winner.ref, mask_card(card.card_no), already=True)
    card.status = "lost"
    session.add(
        AuditEvent(
            at=now,
            actor="bot",
            action="card_reported_lost",
            customer_id=who.customer_id,
            detail={"card": mask_card(card.card_no), "ref": report.ref},
        )
    )
    return LossResult(report.ref, mask_card(card.card_no), already=False)


def check_booking(
    session: Session,
    branch: BranchInfo,
    on_date: dt.date,
    today: dt.date,
    window: str | None = None,
    moving: int | None = None,
) -> tuple[str, str]:
    """The opening hours for a bookable day, or AppointmentRefused with a suggested day.

    With a ``window``, the window must fit that day's hours and, where the branch limits bookings per
    half day (``window_capacity``), that half must have room. ``moving`` is the id of a booking being
    moved: it does not count against the day it may already be on.
    """
    if on_date <= today:
        raise AppointmentRefused("past", next_open_day(branch, today))
    if on_date > today + dt.timedelta(days=BOOKING_HORIZON_DAYS):
        raise AppointmentRefused("too_far")
    hours = hours_on(branch, on_date)
    if hours is None:
        raise AppointmentRefused("closed", next_open_day(branch, on_date))
    if window is not None and window_times(window, hours) is None:
        raise AppointmentRefused("window_closed", day=on_date, window=window)
    same_day = [
        Appointment.branch_id == branch.id, Appointment.on_date == on_date, Appointment.status == "booked"
    ]
    if moving is not None:
        same_day.append(Appointment.id != moving)
    booked = session.scalar(select(func.count(Appointment.id)).where(*same_day))
    if (booked or 0) >= branch.appointment_capacity:
        raise AppointmentRefused("full", next_open_day(branch, on_date))
    half = half_of(window)
    if half is not None and branch.window_capacity is not None:
        windows = session.scalars(select(Appointment.time_window).where(*same_day))
        if sum(1 for w in windows if half_of(w) == half) >= branch.window_capacity:
            raise AppointmentRefused("window_full", next_open_day(branch, on_date), on_date, window)
    return hours


def book_appointment(
    session: Session,
    who: VerifiedCustomer,
    branch_id: int,
    on_date: dt.date,
    service: str,
    idempotency_key: str,
    now: dt.datetime | None = None,
    window: str | None = None,
) -> AppointmentResult:
    """Book a branch visit if the branch is open and has room that day (and in that ``window``:
    上午 / 下午 / "09:00-10:00", crm.access.windows); never twice for one key.

    The same customer asking again for the same branch, day, window and service gets the existing booking.
    """
    now = now or utcnow()
    branch = get_branch(session, branch_id)
    if branch is None:
        raise NotFound("branch")
    same = session.scalar(
        select(Appointment).where(Appointment.idempotency_key == idempotency_key)
    ) or session.scalar(
        select(Appointment)
        .where(
            Appointment.customer_id == who.customer_id,
            Appointment.branch_id == branch_id,
            Appointment.on_date == on_date,
            Appointment.service == service,
            Appointment.time_window.is_(None) if window is None else Appointment.time_window == window,
            Appointment.status == "booked",
        )
        .limit(1)
    )
    if same is not None:
        hours = hours_on(branch, same.on_date) or ("", "")
        return AppointmentResult(
            same.ref, branch.name, branch.address, same.on_date, hours, same.service, True, same.time_window
        )
    hours = check_booking(session, branch, on_date, now.astimezone(SHANGHAI).date(), window)
    appt = Appointment(
        ref=_ref("YY", now),
        customer_id=who.customer_id,
        branch_id=branch_id,
        on_date=on_date,
        time_window=window,
        service=service[:32],
        idempotency_key=idempotency_key,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(appt)
            session.flush()
    except IntegrityError:
        winner = _existing(session, Appointment, idempotency_key)
        assert isinstance(winner, Appointment)
        return AppointmentResult(
            winner.ref, branch.name, branch.address, winner.on_date, hours, winner.service, True, winner.time_window
        )
    session.add(
        AuditEvent(
            at=now,
            actor="bot",
            action="appointment_booked",
            customer_id=who.customer_id,
            detail={"ref": appt.ref, "branch_id": branch_id, "date": on_date.isoformat(), "window": window or ""},
        )
    )
    return AppointmentResult(appt.ref, branch.name, branch.address, on_date, hours, appt.service, False, window)


def open_complaint(
    session: Session,
    who: VerifiedCustomer | None,
    identity_id: int,
    content: str,
    idempotency_key: str,
    now: dt.datetime | None = None,
) -> TicketResult:
    """Open a complaint ticket (工单) routed to the customer's RM (unbound users: no RM yet)."""
    now = now or utcnow()
    previous = _existing(session, Ticket, idempotency_key)
    if isinstance(previous, Ticket):
        return TicketResult(previous.ref, _rm_name(session, previous.rm_id), already=True)
    customer = session.get(Customer, who.customer_id) if who else None
    rm_id = customer.rm_id if customer else None
    ticket = Ticket(
        ref=_ref("TS", now),
        customer_id=customer.id if customer else None,
        identity_id=identity_id,
        rm_id=rm_id,
        kind="complaint",
        category="投诉",
        content=content[:2000],
        idempotency_key=idempotency_key,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(ticket)
            session.flush()
    except IntegrityError:
        winner = _existing(session, Ticket, idempotency_key)
        assert isinstance(winner, Ticket)
        return TicketResult(winner.ref, _rm_name(session, winner.rm_id), already=True)
    session.add(
        AuditEvent(
            at=now,
            actor="bot",
            action="complaint_opened",
            customer_id=customer.id if customer else None,
            detail={"ref": ticket.ref, "rm_id": rm_id},
        )
    )
    return TicketResult(ticket.ref, _rm_name(session, rm_id), already=False)


def _rm_name(session: Session, rm_id: int | None) -> str | None:
    if rm_id is None:
        return None
    rm = session.get(RelationshipManager, rm_id)
    # Staff are addressed by surname and title (王经理), as on the bank's own notices.
    return f"{rm.name[0]}经理" if rm else None


def ticket_statuses(
    session: Session, who: VerifiedCustomer | None, identity_id: int, ref: str | None = None, limit: int = 3
) -> list[TicketView]:
    """Tickets of this customer (or, unbound, of this chat identity); a ``ref`` of someone else's
    ticket gives nothing, exactly as an unknown ref does."""
    owner = Ticket.customer_id == who.customer_id if who else Ticket.identity_id == identity_id
    stmt = select(Ticket).where(owner)
    if ref:
        stmt = stmt.where(func.upper(Ticket.ref) == ref.strip().upper())
    rows = session.scalars(stmt.order_by(Ticket.id.desc()).limit(limit))
    return [
        TicketView(t.ref, t.status, t.category, t.created_at.astimezone(SHANGHAI), t.resolution) for t in rows
    ]
