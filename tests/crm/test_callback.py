"""A callback number left on purpose: the ticket text stays masked, only the assigned RM reads the
number, and every reveal is audited (issue #19, finding 3)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from crm.access.callback import NotAssigned, callback_number_masked, reveal_callback_number
from crm.access.identity import VerifiedCustomer, get_or_create_identity
from crm.access.service import open_complaint
from crm.errors import NotFound
from crm.models import AuditEvent, Customer, RelationshipManager, Ticket

LEFT = "柜台排队两个小时没人管，请客户经理回电 一三九 一二三四 五六七八，下午都在。"


def _complaint(s: Session, text: str, key: str) -> tuple[Ticket, Customer]:
    customer = s.scalars(select(Customer).where(Customer.rm_id.is_not(None)).limit(1)).one()
    identity = get_or_create_identity(s, "web", f"callback-{key}")
    who = VerifiedCustomer(customer_id=customer.id, identity_id=identity.id, channel="web")
    result = open_complaint(s, who, identity.id, text, idempotency_key=f"test:{key}")
    ticket = s.scalars(select(Ticket).where(Ticket.ref == result.ref)).one()
    return ticket, customer


def test_the_ticket_text_is_masked_and_the_number_kept_apart(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ticket, _ = _complaint(s, LEFT, "a")
        assert ticket.content == "柜台排队两个小时没人管，请客户经理回电 139****5678，下午都在。"
        assert ticket.callback_phone == "13912345678"
        assert callback_number_masked(ticket) == "139****5678"


def test_only_the_assigned_rm_reads_the_number_and_each_reveal_is_audited(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ticket, customer = _complaint(s, LEFT, "b")
        assert ticket.rm_id is not None and ticket.rm_id == customer.rm_id
        other = s.scalars(select(RelationshipManager).where(RelationshipManager.id != ticket.rm_id).limit(1)).one()
        with pytest.raises(NotAssigned):
            reveal_callback_number(s, other.id, ticket.id)
        assert reveal_callback_number(s, ticket.rm_id, ticket.id) == "13912345678"
        assert reveal_callback_number(s, ticket.rm_id, ticket.id) == "13912345678"
        audits = s.scalars(select(AuditEvent).where(AuditEvent.action == "callback_number_revealed")).all()
        assert len(audits) == 2
        assert audits[0].customer_id == customer.id and audits[0].detail["ticket"] == ticket.ref
        assert "13912345678" not in str(audits[0].detail)  # the audit trail itself stays masked


def test_no_number_or_no_ticket_reveals_nothing(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        ticket, _ = _complaint(s, "网点的ATM吞卡了", "c")
        assert ticket.callback_phone is None and callback_number_masked(ticket) is None
        with pytest.raises(NotFound):
            reveal_callback_number(s, ticket.rm_id or 0, ticket.id)
        with pytest.raises(NotFound):
            reveal_callback_number(s, ticket.rm_id or 0, 999_999)
