"""A customer's own branch bookings: look them up, cancel them, move them to another day or window (#20).

Booking itself is in crm.access.service (book_appointment); these work on what it stored. The time
window is ``Appointment.time_window`` (crm.access.windows), never part of the service text.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.access.branches import get_branch, hours_on
from crm.access.identity import VerifiedCustomer
from crm.access.service import AppointmentRefused, check_booking
from crm.access.windows import window_for, window_sort_key, window_times
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
    hours: tuple[str, str] | None  # the branch's opening hours that day
    window: str | None = None  # 上午 / 下午 / "09:00-10:00"; None = any time that day

    @property
    def times(self) -> tuple[str, str] | None:
        """Clock times of the window that day (the opening hours when there is no window)."""
        return window_times(self.window, self.hours)


def _view(session: Session, appt: Appointment) -> BookingView:
    branch = get_branch(session, appt.branch_id)
    hours = hours_on(branch, appt.on_date) if branch else None
    return BookingView(
        appt.ref, branch.name if branch else "", branch.address if branch else "", appt.on_date, appt.service, hours,
        appt.time_window,
    )


def _upcoming(session: Session, who: VerifiedCustomer, today: dt.date) -> list[Appointment]:
    """The customer's live bookings from today on, soonest first: by day, then window."""
    rows = list(
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
    return sorted(rows, key=lambda a: (a.on_date, window_sort_key(a.time_window), a.id))


def upcoming_bookings(session: Session, who: VerifiedCustomer, today: dt.date) -> list[BookingView]:
    """The customer's bookings from today on, soonest first (by day, then window)."""
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


KEEP_WINDOW = "keep"


def move_booking(
    session: Session,
    who: VerifiedCustomer,
    new_date: dt.date | None,
    today: dt.date,
    window: str | None = KEEP_WINDOW,
) -> BookingView | None:
    """Move the next booking to ``new_date`` (None: the same day) and ``window`` (上午 / 下午 / an hour
    "9" or "09:00-10:00"; None: any time that day; by default the window it had, dropped if it does not
    fit the new day's hours).

    Raises AppointmentRefused when that day or window cannot be booked.
    """
    rows = _upcoming(session, who, today)
    if not rows:
        return None
    appt = rows[0]
    branch = get_branch(session, appt.branch_id)
    if branch is None:
        return None
    day = new_date or appt.on_date
    hours = hours_on(branch, day)
    if window == KEEP_WINDOW:
        window = appt.time_window if window_times(appt.time_window, hours) is not None else None
    elif window is not None:
        window = window_for(window, hours) or window  # "9" → "09:00-10:00"; one that does not fit is refused
    check_booking(session, branch, day, today, window, moving=appt.id)
    old_day, old_window = appt.on_date, appt.time_window
    appt.on_date = day
    appt.time_window = window
    _audit(session, who, "appointment_moved", {
        "ref": appt.ref, "from": old_day.isoformat(), "to": day.isoformat(),
        "from_window": old_window or "", "to_window": window or "",
    })  # fmt: skip
    session.flush()
    return _view(session, appt)


def bookings_per_window(session: Session, branch_id: int, on_date: dt.date) -> dict[str | None, int]:
    """How many live bookings a branch has in each window of a day (None: any time that day)."""
    counts = session.execute(
        select(Appointment.time_window, func.count(Appointment.id))
        .where(Appointment.branch_id == branch_id, Appointment.on_date == on_date, Appointment.status == BOOKED)
        .group_by(Appointment.time_window)
    )
    found = {window: int(n) for window, n in counts}
    return dict(sorted(found.items(), key=lambda item: window_sort_key(item[0])))


__all__ = [
    "KEEP_WINDOW",
    "AppointmentRefused",
    "BookingView",
    "bookings_per_window",
    "cancel_booking",
    "move_booking",
    "upcoming_bookings",
]
