"""A conversation full of phone, ID and card numbers leaves none of them in any service's log."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.db import make_engine
from crm.demo.catalogue import PERSONAS
from crm.models import Conversation, Message, SmsOutbox
from devstack.stack import Stack, WebChat

pytestmark = pytest.mark.e2e

SECRETS = ["13912345678", "411421199001011234", "6217991234567890123", "6231000000000000000001"]


def test_no_personal_numbers_in_any_log(stack: Stack) -> None:
    chat = WebChat(stack.gateway_url, PERSONAS[2].web_id)
    chat.say(f"我手机号是{SECRETS[0]} 身份证{SECRETS[1]}")
    chat.say(f"卡号{SECRETS[2]}的卡丢了")
    chat.say(f"帮我查下账户{SECRETS[3]}的余额")
    chat.say("查余额")
    logs = {name: svc.log.read_text(errors="replace") for name, svc in stack.services.items()}
    assert any(logs.values()), "services should have logged something"
    for name, text in logs.items():
        for secret in SECRETS:
            assert secret not in text, f"{name} log contains a personal number"
        # No 11-digit mobile number or 18-character ID number in the clear at all.
        assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", text), f"{name} log contains a phone number"
        assert not re.search(r"(?<!\d)\d{17}[\dXx](?!\d)", text), f"{name} log contains an ID number"


def test_binding_leaves_no_phone_id_or_code_in_rasas_tracker(stack: Stack) -> None:
    """The real Rasa server keeps the conversation through rasa_ext's redacting store."""
    zhaoli = next(p for p in PERSONAS if p.key == "zhaoli")
    chat = WebChat(stack.gateway_url)  # a new web visitor who is Zhao Li
    assert "手机号" in chat.reply_text("绑定账户")
    assert "身份证" in chat.reply_text(zhaoli.phone)
    assert "验证码" in chat.reply_text(zhaoli.id_number[-6:])
    engine = make_engine(stack.database_url)
    with Session(engine) as s:
        sms = s.scalar(select(SmsOutbox.text).where(SmsOutbox.phone == zhaoli.phone).order_by(SmsOutbox.id.desc()))
        sender = s.scalar(select(Conversation.sender_id).order_by(Conversation.updated_at.desc()).limit(1))
    engine.dispose()
    code = re.search(r"\d{6}", sms or "")
    assert code is not None and sender
    assert "绑定成功" in chat.reply_text(code.group(0))
    assert "尾号" in chat.reply_text("查余额")  # the conversation goes on after redaction

    with urllib.request.urlopen(
        f"{stack.rasa_url}/conversations/{sender}/tracker?token={stack.env['RASA_TOKEN']}", timeout=30
    ) as resp:
        tracker = resp.read().decode()
    events = json.loads(tracker)["events"]
    assert sum(e["event"] == "user" for e in events) >= 5, "the tracker is the visitor's conversation"
    for secret in (zhaoli.phone, zhaoli.id_number[-6:], code.group(0)):
        assert secret not in tracker, "Rasa's tracker store keeps a secret the customer typed"
    assert sum(e["event"] == "user" and e["text"] == "［已隐藏］" for e in events) == 3  # the three answers

    # The gateway's own transcript (what RMs read) keeps none of them either.
    engine = make_engine(stack.database_url)
    with Session(engine) as s:
        conv_id = s.scalar(select(Conversation.id).where(Conversation.sender_id == sender))
        transcript = list(s.scalars(select(Message.text).where(Message.conversation_id == conv_id)))
    engine.dispose()
    assert len(transcript) >= 10
    for secret in (zhaoli.phone, zhaoli.id_number[-6:], code.group(0)):
        assert not any(secret in text for text in transcript), "the transcript keeps a secret"
