"""A callback number a customer left on purpose (留言, complaint), for the RM who calls back.

The ticket's text is stored masked like every transcript (``Ticket.content``); the number itself
waits in ``tickets.callback_phone``. Only the RM the ticket is assigned to may read it, one
ticket at a time, and every reveal is audited. The console shows a "查看回电号码" control that
calls :func:`reveal_callback_number`; nothing else reads the column.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.masking import mask_phone
from crm.errors import CrmError, NotFound
from crm.models import AuditEvent, RelationshipManager, Ticket, utcnow


class NotAssigned(CrmError):
    """The ticket is not assigned to this RM (supervisors included): the number stays hidden."""

    code = "not_assigned"


def callback_number_masked(ticket: Ticket) -> str | None:
    """What any console may show of the callback number: 138****5678, or None without one."""
    return mask_phone(ticket.callback_phone) if ticket.callback_phone else None


def reveal_callback_number(session: Session, rm_id: int, ticket_id: int) -> str:
    """The full callback number of ``ticket_id`` for the RM it is assigned to; audited.

    Raises ``NotFound`` if there is no such ticket or it has no callback number, ``NotAssigned``
    if the ticket belongs to another RM (or to none).
    """
    rm = session.get(RelationshipManager, rm_id)
    ticket = session.get(Ticket, ticket_id)
    if rm is None or ticket is None:
        raise NotFound("no such ticket")
    if ticket.rm_id != rm.id:
        raise NotAssigned("ticket assigned to another RM")
    if not ticket.callback_phone:
        raise NotFound("no callback number on this ticket")
    session.add(
        AuditEvent(
            at=utcnow(), actor=f"rm:{rm.code}", action="callback_number_revealed", customer_id=ticket.customer_id,
            detail={"ticket": ticket.ref, "phone": mask_phone(ticket.callback_phone)},
        )
    )  # fmt: skip
    session.flush()
    return ticket.callback_phone
