"""Computed customer text (actions/texts.py): every state a record can be in has Chinese words."""

from __future__ import annotations

import datetime as dt

from actions.texts import TICKET_STATUS_TEXT, date_refusal, ticket_list
from crm.access.service import TicketView
from crm.models.service import TicketStatus


def test_every_ticket_status_reads_as_chinese() -> None:
    assert set(TICKET_STATUS_TEXT) == set(TicketStatus)
    rows = [TicketView(f"TS{i}", s, "complaint", dt.datetime(2026, 5, 8, 9, 30)) for i, s in enumerate(TicketStatus)]
    said = ticket_list(rows)
    assert said.splitlines()[0] == "您的工单进度："
    assert "· TS0（05月08日提交）：已受理，等待处理" in said
    assert not any(s.value in said for s in TicketStatus)  # no stored status word reaches the customer


def test_a_refused_day_suggests_the_nearest_bookable_one() -> None:
    assert date_refusal("full", dt.date(2026, 5, 11)) == (
        "这个网点那天的预约已经满了。最近可以预约的是5月11日（周一）。请换一天。"
    )
    assert date_refusal("unknown", None) == "这天不能预约。请换一天。"


def test_a_resolved_ticket_says_what_was_done() -> None:
    row = TicketView("TS9", TicketStatus.RESOLVED, "投诉", dt.datetime(2026, 5, 8, 9, 30), "已为您开通绿色通道")
    assert ticket_list([row]).splitlines()[1] == "· TS9（05月08日提交）：已处理完毕。处理结果：已为您开通绿色通道"
