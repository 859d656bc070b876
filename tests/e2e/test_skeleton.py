"""The walking skeleton through real processes: web chat → gateway → Rasa → actions → database."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import make_engine
from core.masking import format_yuan, mask_card
from crm.demo.catalogue import PERSONAS
from crm.models import Account, Customer, Message
from devstack.stack import Stack, WebChat

pytestmark = pytest.mark.e2e


def expected_balances(stack: Stack, phone: str) -> list[tuple[str, str, str]]:
    engine = make_engine(stack.database_url)
    try:
        with Session(engine) as s:
            customer = s.scalars(select(Customer).where(Customer.phone == phone)).one()
            accounts = s.scalars(select(Account).where(Account.customer_id == customer.id)).all()
            return [(mask_card(a.account_no), format_yuan(a.balance), a.account_no) for a in accounts]
    finally:
        engine.dispose()


def test_greeting(stack: Stack) -> None:
    chat = WebChat(stack.gateway_url, PERSONAS[0].web_id)
    reply = chat.reply_text("你好")
    assert "您好" in reply


def test_balance_for_verified_customer_is_masked_and_correct(stack: Stack) -> None:
    zhang = PERSONAS[0]
    chat = WebChat(stack.gateway_url, zhang.web_id)
    reply = chat.reply_text("我卡里还有多少钱")
    rows = expected_balances(stack, zhang.phone)
    assert len(rows) == 2
    for masked, amount, full in rows:
        assert masked in reply and amount in reply
        assert full not in reply
    assert "张先生" in reply


def test_unverified_visitor_gets_binding_invitation_not_data(stack: Stack) -> None:
    chat = WebChat(stack.gateway_url)
    reply = chat.reply_text("查一下余额")
    assert "绑定" in reply
    assert "元" not in reply


def test_every_message_is_stored_with_direction_and_author(stack: Stack) -> None:
    chat = WebChat(stack.gateway_url, PERSONAS[1].web_id)
    chat.say("你好")
    engine = make_engine(stack.database_url)
    with Session(engine) as s:
        rows = s.execute(select(Message.direction, Message.author).order_by(Message.id)).all()
    engine.dispose()
    assert ("in", "customer") in rows and ("out", "bot") in rows


def test_nonsense_gets_a_polite_answer(stack: Stack) -> None:
    chat = WebChat(stack.gateway_url, PERSONAS[3].web_id)
    replies = chat.say("啊吧啊吧 zzqq 火星文")
    assert replies, "the customer must never be left without an answer"
    assert all(r["text"] for r in replies)
