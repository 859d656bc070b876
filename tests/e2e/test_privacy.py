"""A conversation full of phone, ID and card numbers leaves none of them in any service's log."""

from __future__ import annotations

import re

import pytest

from crm.demo.catalogue import PERSONAS
from tests.e2e.stack import Stack, WebChat

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
