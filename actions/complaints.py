"""Complaints (what happened → 工单号, routed to the customer's RM, then a handoff) and ticket status."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.context import entity, idempotency_key, in_session, split_sender, verified
from actions.forms import reset_slots
from crm.access.identity import get_or_create_identity
from crm.access.service import TicketResult, TicketStatus, open_complaint, ticket_statuses

FORM = "complain_form"
ACTION_VALIDATE_COMPLAINT = "validate_complain_form"
ACTION_SUBMIT_COMPLAINT = "action_submit_complaint"
ACTION_CHECK_TICKET = "action_check_ticket"
STATUS_TEXT = {"open": "已受理，等待处理", "processing": "正在处理中", "resolved": "已处理完毕"}
HANDOFF = {"handoff": {"reason": "complaint", "priority": 1}}


class ValidateComplainForm(FormValidationAction):
    def name(self) -> str:
        return ACTION_VALIDATE_COMPLAINT

    def validate_complaint_text(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        if len(text) < 4:
            dispatcher.utter_message(
                text="请再具体说说遇到了什么问题，比如在哪个网点、什么时间、发生了什么。"
            )
            return {"complaint_text": None}
        return {"complaint_text": text}


class ActionSubmitComplaint(Action):
    def name(self) -> str:
        return ACTION_SUBMIT_COMPLAINT

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        content = str(tracker.get_slot("complaint_text") or "")
        key = idempotency_key("complaint", tracker)
        channel, external = split_sender(tracker.sender_id)

        def work(session: Session) -> TicketResult:
            who = verified(session, tracker.sender_id)
            identity = get_or_create_identity(session, channel, external)
            return open_complaint(session, who, identity.id, content, key)

        result = await in_session(work)
        owner = f"已转给您的客户经理{result.rm_name}跟进" if result.rm_name else "已转给网点负责人跟进"
        dispatcher.utter_message(
            text=f"非常抱歉给您带来不好的体验。您的投诉已登记，工单号{result.ref}，{owner}，"
            "一般1个工作日内会联系您。您也可以随时回复“查工单”了解进度。"
        )
        dispatcher.utter_message(json_message=HANDOFF)
        return reset_slots(FORM)


class ActionCheckTicket(Action):
    def name(self) -> str:
        return ACTION_CHECK_TICKET

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        ref = entity(tracker, "ticket_id")
        channel, external = split_sender(tracker.sender_id)

        def work(session: Session) -> list[TicketStatus]:
            who = verified(session, tracker.sender_id)
            identity = get_or_create_identity(session, channel, external)
            return ticket_statuses(session, who, identity.id, ref)

        rows = await in_session(work)
        if not rows:
            dispatcher.utter_message(
                text="没有查到您名下的这个工单。请核对工单号，或回复“人工”由客服帮您查。"
                if ref
                else "您目前没有工单记录。"
            )
            return []
        lines = ["您的工单进度："]
        for t in rows:
            lines.append(f"· {t.ref}（{t.created_at:%m月%d日}提交）：{STATUS_TEXT.get(t.status, t.status)}")
        dispatcher.utter_message(text="\n".join(lines))
        return []
