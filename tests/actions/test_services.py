"""Loss report, appointment, complaint and ticket status: idempotent, audited, owner-only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.access.branches import get_branch, hours_on
from crm.models import Appointment, AuditEvent, Branch, Card, LossReport, Ticket
from crm.timeparse import today_in_shanghai
from tests.actions.conftest import slot_events, texts, tracker

OWNER = "web:demo-zhangjianhua"


async def test_loss_report_freezes_once(webhook: Any, db: Session) -> None:
    card = db.scalars(select(Card).where(Card.customer_id == 1).order_by(Card.id)).first()
    assert card is not None and card.status == "normal"
    tail = card.card_no[-4:]
    ask = await webhook(
        "action_ask_card_tail", tracker(OWNER, "卡丢了", "report_loss", active_loop="report_loss_form")
    )
    assert {"title": f"{card.kind}尾号{tail}", "payload": f'/inform{{"card_tail":"{tail}"}}'} in ask[
        "responses"
    ][0]["buttons"]
    valid = await webhook(
        "validate_report_loss_form",
        tracker(
            OWNER,
            tail,
            "inform",
            slots={"card_tail": tail, "requested_slot": "card_tail"},
            active_loop="report_loss_form",
        ),
    )
    assert slot_events(valid)["card_tail"] == tail
    confirm = tracker(
        OWNER, "确认", "affirm", slots={"card_tail": tail, "loss_confirm": True}, message_id="confirm-1"
    )
    first = await webhook("action_submit_loss", confirm)
    retry = await webhook("action_submit_loss", confirm)  # Rasa retrying the same call
    again = await webhook(
        "action_submit_loss",
        tracker(OWNER, "确认", "affirm", slots={"card_tail": tail, "loss_confirm": True}),
    )
    ref = db.scalar(select(LossReport.ref))
    assert ref and ref in texts(first)[0] and "已为您挂失" in texts(first)[0]
    assert ref in texts(retry)[0] and ref in texts(again)[0] and "不用重复办理" in texts(again)[0]
    db.expire_all()
    assert db.scalar(select(func.count(LossReport.id))) == 1
    assert db.get(Card, card.id).status == "lost"  # type: ignore[union-attr]
    assert db.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.action == "card_reported_lost")) == 1
    assert card.card_no not in str(first)


async def test_someone_elses_card_is_refused(webhook: Any, db: Session) -> None:
    other = db.scalars(select(Card).where(Card.customer_id == 2)).first()
    assert other is not None
    tail = other.card_no[-4:]
    valid = await webhook(
        "validate_report_loss_form",
        tracker(
            OWNER,
            tail,
            "inform",
            slots={"card_tail": tail, "requested_slot": "card_tail"},
            active_loop="report_loss_form",
        ),
    )
    assert slot_events(valid)["card_tail"] is None


async def test_a_forgotten_tail_is_answered_with_the_customers_cards(webhook: Any, db: Session) -> None:
    text = "尾号是几我记不清了"
    valid = await webhook(
        "validate_report_loss_form",
        tracker(OWNER, text, "inform", slots={"card_tail": text, "requested_slot": "card_tail"},
                active_loop="report_loss_form"),
    )
    assert slot_events(valid)["card_tail"] is None
    said = texts(valid)[0]
    owned = db.scalars(select(Card).where(Card.customer_id == 1)).all()
    assert owned and all(f"尾号{c.card_no[-4:]}" in said for c in owned if c.status != "lost")
    assert "没有找到" not in said and all(c.card_no not in said for c in owned)


async def test_declined_loss_changes_nothing(webhook: Any, db: Session) -> None:
    r = await webhook(
        "validate_report_loss_form",
        tracker(
            OWNER,
            "不了",
            "deny",
            slots={"card_tail": "1234", "loss_confirm": False, "requested_slot": "loss_confirm"},
            active_loop="report_loss_form",
        ),
    )
    assert slot_events(r)["requested_slot"] is None
    done = await webhook(
        "action_submit_loss", tracker(OWNER, "不了", "deny", slots={"flow_status": "declined"})
    )
    assert "没有挂失" in texts(done)[0]
    assert db.scalar(select(func.count(LossReport.id))) == 0


def _open_day(db: Session, start: dt.date) -> tuple[int, dt.date]:
    branch = get_branch(db, 1)
    assert branch is not None
    day = start
    while hours_on(branch, day) is None:
        day += dt.timedelta(days=1)
    return branch.id, day


async def test_appointment_books_once_and_respects_capacity(webhook: Any, db: Session) -> None:
    today = today_in_shanghai()
    branch_id, day = _open_day(db, today + dt.timedelta(days=2))
    name = db.get(Branch, branch_id).name  # type: ignore[union-attr]
    valid = await webhook(
        "validate_book_appointment_form",
        tracker(
            OWNER,
            name,
            "inform",
            slots={"appt_branch": name, "requested_slot": "appt_branch"},
            active_loop="book_appointment_form",
        ),
    )
    assert slot_events(valid)["appt_branch_id"] == float(branch_id)
    slots = {
        "appt_branch": name,
        "appt_branch_id": float(branch_id),
        "appt_date": day.isoformat(),
        "appt_service": "开户",
    }
    call = tracker(OWNER, "开户", "inform", slots=slots, message_id="appt-1")
    first = await webhook("action_submit_appointment", call)
    retry = await webhook("action_submit_appointment", call)
    ref = db.scalar(select(Appointment.ref))
    assert ref and ref in texts(first)[0] and ref in texts(retry)[0]
    assert db.scalar(select(func.count(Appointment.id))) == 1
    # Fill the day to capacity: the next customer is told it is full.
    capacity = db.get(Branch, branch_id).appointment_capacity  # type: ignore[union-attr]
    for i in range(capacity - 1):
        db.add(
            Appointment(
                ref=f"T{i}",
                customer_id=3,
                branch_id=branch_id,
                on_date=day,
                service="开户",
                idempotency_key=f"t{i}",
            )
        )
    db.commit()
    full = await webhook(
        "validate_book_appointment_form",
        tracker(
            "web:demo-lixiulan",
            day.isoformat(),
            "inform",
            slots={
                "appt_branch": name,
                "appt_branch_id": float(branch_id),
                "appt_date": day.isoformat(),
                "requested_slot": "appt_date",
            },
            active_loop="book_appointment_form",
        ),
    )
    assert slot_events(full)["appt_date"] is None and "满" in texts(full)[0]


async def test_appointment_on_a_closed_day_is_refused(webhook: Any, db: Session) -> None:
    today = today_in_shanghai()
    branches = db.scalars(select(Branch)).all()
    closed = next(b for b in branches if b.opening_hours.get("weekend") is None)
    info = get_branch(db, closed.id)
    assert info is not None
    day = today + dt.timedelta(days=1)
    while hours_on(info, day) is not None:
        day += dt.timedelta(days=1)
    r = await webhook(
        "validate_book_appointment_form",
        tracker(
            OWNER,
            day.isoformat(),
            "inform",
            slots={
                "appt_branch": closed.name,
                "appt_branch_id": float(closed.id),
                "appt_date": day.isoformat(),
                "requested_slot": "appt_date",
            },
            active_loop="book_appointment_form",
        ),
    )
    assert slot_events(r)["appt_date"] is None and "不营业" in texts(r)[0]


async def test_complaint_opens_one_ticket_routed_to_the_rm_and_hands_off(webhook: Any, db: Session) -> None:
    call = tracker(
        OWNER,
        "柜员态度太差了等了两个小时",
        "inform",
        slots={"complaint_text": "柜员态度太差了等了两个小时"},
        message_id="c-1",
    )
    first = await webhook("action_submit_complaint", call)
    retry = await webhook("action_submit_complaint", call)
    ticket = db.scalar(select(Ticket))
    assert ticket is not None and ticket.rm_id is not None and ticket.customer_id == 1
    assert db.scalar(select(func.count(Ticket.id))) == 1
    assert ticket.ref in texts(first)[0] and ticket.ref in texts(retry)[0]
    assert {"custom": {"handoff": {"reason": "complaint", "priority": 1}}}.items() <= first["responses"][
        1
    ].items()
    status = await webhook("action_check_ticket", tracker(OWNER, "查工单", "check_ticket"))
    assert ticket.ref in texts(status)[0] and "已受理" in texts(status)[0]
    # Another customer asking for this ref learns nothing.
    other = await webhook(
        "action_check_ticket",
        tracker("web:demo-lixiulan", ticket.ref, "check_ticket", entities={"ticket_id": ticket.ref}),
    )
    assert ticket.ref not in texts(other)[0]
