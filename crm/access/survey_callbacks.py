"""回访 tasks for the console: an RM sees and closes their own; a supervisor also their branch's.

Views are masked (张*华, 138****5678): the console shows who to call, the number itself is in the
core banking system the RM dials from. Closing a task records the outcome (numbers masked) and
an audit event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.masking import mask_customer_name, mask_phone, redact_customer_text
from crm.errors import NotFound
from crm.models import AuditEvent, CallbackTask, Customer, Survey, SurveyAnswer, SurveyResponse
from crm.models.surveys import CallbackStatus

CLOSING_OUTCOMES = (CallbackStatus.DONE.value, CallbackStatus.UNREACHABLE.value)
STATUS_ZH = {"open": "待回访", "done": "已回访", "unreachable": "未联系上"}
SCALE_ZH = {"nps": "推荐意愿（0-10分）", "csat": "满意度（1-5分）"}


class NotYours(PermissionError):
    """The task is visible but belongs to another RM."""


def _visible(rm_id: int, role: str, branch_id: int) -> Any:
    if role == "supervisor":
        return or_(CallbackTask.rm_id == rm_id, CallbackTask.branch_id == branch_id)
    return CallbackTask.rm_id == rm_id


def list_tasks(
    session: Session, rm_id: int, role: str, branch_id: int, *, include_closed: bool = False, today: dt.date
) -> list[dict[str, Any]]:
    """The console user's 回访 tasks, open first and by due day."""
    stmt = (
        select(CallbackTask, Customer.name, Customer.phone, Survey.name)
        .join(Customer, Customer.id == CallbackTask.customer_id)
        .join(SurveyResponse, SurveyResponse.id == CallbackTask.response_id)
        .join(Survey, Survey.id == SurveyResponse.survey_id)
        .where(_visible(rm_id, role, branch_id))
        .order_by(CallbackTask.status != CallbackStatus.OPEN.value, CallbackTask.due_on, CallbackTask.id)
        .limit(200)
    )
    if not include_closed:
        stmt = stmt.where(CallbackTask.status == CallbackStatus.OPEN.value)
    out = []
    for task, name, phone, survey_name in session.execute(stmt):
        comments = [
            c
            for c in session.scalars(
                select(SurveyAnswer.comment).where(
                    SurveyAnswer.response_id == task.response_id, SurveyAnswer.comment.is_not(None)
                )
            )
            if c
        ]
        out.append(
            {
                "id": task.id,
                "customer": mask_customer_name(name),
                "phone": mask_phone(phone),
                "survey": survey_name,
                "scale": SCALE_ZH.get(task.scale, task.scale),
                "score": task.score,
                "comments": comments,
                "due_on": task.due_on.isoformat(),
                "overdue": task.status == CallbackStatus.OPEN.value and today > task.due_on,
                "status": task.status,
                "status_zh": STATUS_ZH.get(task.status, task.status),
                "outcome": task.outcome,
                "mine": task.rm_id == rm_id,
            }
        )
    return out


def close_task(
    session: Session, task_id: int, rm_id: int, role: str, branch_id: int, outcome: str, note: str, now: dt.datetime
) -> dict[str, Any]:
    """Record the call's outcome (``done`` or ``unreachable``) and a note; idempotent for a closed task."""
    if outcome not in CLOSING_OUTCOMES:
        raise ValueError(outcome)
    task = session.scalar(select(CallbackTask).where(CallbackTask.id == task_id, _visible(rm_id, role, branch_id)))
    if task is None:
        raise NotFound("callback task")
    if task.rm_id not in (rm_id, None) and role != "supervisor":
        raise NotYours(task_id)
    if task.status == CallbackStatus.OPEN.value:
        task.status = outcome
        task.outcome = redact_customer_text(note.strip())[:1000] or None
        task.closed_by = rm_id
        task.closed_at = now
        session.add(
            AuditEvent(
                actor=f"rm:{rm_id}", action="survey_callback_closed", customer_id=task.customer_id,
                detail={"task_id": task.id, "outcome": outcome},
            )
        )  # fmt: skip
    return {"id": task.id, "status": task.status, "status_zh": STATUS_ZH.get(task.status, task.status)}
