"""A customer's own branch bookings: look them up, cancel them, move them to another day (#20).

Booking itself is in crm.access.service (book_appointment); these work on what it stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.access.branches import get_branch, hours_on
from crm.access.identity import VerifiedCustomer
from crm.access.service import AppointmentRefused, check_booking
from crm.models import Appointment, AuditEvent, utcnow

BOOKED = "booked"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class BookingView:
    ref: str
    branch: str
    address: str
    on_date: dt.date
    service: str
    hours: tuple[str, str] | None


def _view(session: Session, appt: Appointment) -> BookingView:
    branch = get_branch(session, appt.branch_id)
    hours = hours_on(branch, appt.on_date) if branch else None
    return BookingView(
        appt.ref, branch.name if branch else "", branch.address if branch else "", appt.on_date, appt.service, hours
    )


def _upcoming(session: Session, who: VerifiedCustomer, today: dt.date) -> list[Appointment]:
    return list(
        session.scalars(
            select(Appointment)
            .where(
                Appointment.customer_id == who.customer_id,
                Appointment.status == BOOKED,
                Appointment.on_date >= today,
            )
            .order_by(Appointment.on_date, Appointment.id)
        )
    )


def upcoming_bookings(session: Session, who: VerifiedCustomer, today: dt.date) -> list[BookingView]:
    """The customer's bookings from today on, soonest first."""
    return [_view(session, a) for a in _upcoming(session, who, today)]


def _audit(session: Session, who: VerifiedCustomer, action: str, detail: dict[str, str]) -> None:
    session.add(
        AuditEvent(at=utcnow(), actor="bot", action=action, customer_id=who.customer_id, detail=detail)
    )


def cancel_booking(
    session: Session, who: VerifiedCustomer, today: dt.date, on_date: dt.date | None = None
) -> BookingView | None:
    """Cancel the customer's next booking (or the one on ``on_date``); None when there is none."""
    rows = _upcoming(session, who, today)
    if on_date is not None:
        rows = [a for a in rows if a.on_date == on_date] or rows
    if not rows:
        return None
    appt = rows[0]
    appt.status = CANCELLED
    _audit(session, who, "appointment_cancelled", {"ref": appt.ref})
    session.flush()
    return _view(session, appt)


def move_booking(
    session: Session, who: VerifiedCustomer, new_date: dt.date, today: dt.date
) -> BookingView | None:
    """Move the next booking to ``new_date`` (AppointmentRefused when that day cannot be booked)."""
    rows = _upcoming(session, who, today)
    if not rows:
        return None
    appt = rows[0]
    branch = get_branch(session, appt.branch_id)
    if branch is None:
        return None
    check_booking(session, branch, new_date, today)
    old = appt.on_date
    appt.on_date = new_date
    _audit(session, who, "appointment_moved", {"ref": appt.ref, "from": old.isoformat(), "to": new_date.isoformat()})
    session.flush()
    return _view(session, appt)


__all__ = ["AppointmentRefused", "BookingView", "cancel_booking", "move_booking", "upcoming_bookings"]
