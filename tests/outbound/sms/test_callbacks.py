"""Delivery reports and inbound replies pushed by the sandbox, parsed as the gateway will parse them."""

from __future__ import annotations

import json
import urllib.request

import pytest

from outbound.sms.aliyun import AliyunSms
from outbound.sms.callbacks import (
    CallbackError,
    is_opt_out,
    parse_aliyun_replies,
    parse_aliyun_reports,
    parse_tencent_replies,
    parse_tencent_reports,
)
from outbound.sms.sandbox.app import (
    ALIYUN_REPLY_PATH,
    ALIYUN_REPORT_PATH,
    TENCENT_REPLY_PATH,
    TENCENT_REPORT_PATH,
    SmsSandbox,
)
from outbound.sms.templates import TemplateBook
from outbound.sms.tencent import TencentSms

GREETING = ["张先生", "城关支行"]


def post_json(url: str, payload: object) -> object:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


def test_tencent_delivery_reports_reach_the_callback(tencent: TencentSms, book: TemplateBook, callbacks) -> None:
    # ...0000 is an empty number (空号) in the sandbox: accepted, then reported as failed.
    sent = tencent.send_batch(book.get("birthday_greeting"), ["13800006001", "13800000000"], GREETING)
    pushes = callbacks.wait_for(TENCENT_REPORT_PATH)
    reports = {r.phone: r for push in pushes for r in parse_tencent_reports(json.dumps(push))}

    assert len(reports) == 2
    ok, empty = reports["13800006001"], reports["13800000000"]
    assert ok.delivered and ok.code == "DELIVRD" and ok.provider_message_id == sent[0].provider_message_id
    assert ok.reported_at is not None and ok.reported_at.tzinfo is not None
    assert not empty.delivered and empty.hard_failure and empty.code == "MN:0001"


def test_aliyun_delivery_reports_reach_the_callback(aliyun: AliyunSms, book: TemplateBook, callbacks) -> None:
    (sent,) = aliyun.send_batch(book.get("birthday_greeting"), ["13800006101"], GREETING, context="delivery-42")
    (report,) = parse_aliyun_reports(callbacks.wait_for(ALIYUN_REPORT_PATH)[0])

    assert report.delivered and report.code == "DELIVERED"
    assert report.provider_message_id == sent.provider_message_id
    assert report.context == "delivery-42"


def test_inbound_unsubscribe_by_tencent(tencent: TencentSms, book: TemplateBook, sandbox: tuple[str, SmsSandbox],
                                        callbacks) -> None:
    tencent.send_batch(book.get("birthday_greeting"), ["13800006201"], GREETING)
    post_json(sandbox[0] + "/sandbox/sms/api/reply", {"phone": "13800006201", "text": "退订"})
    (reply,) = parse_tencent_replies(callbacks.wait_for(TENCENT_REPLY_PATH)[0])

    assert reply.phone == "13800006201" and reply.text == "退订" and reply.is_opt_out
    assert reply.sign_name == "XX农商银行"


def test_inbound_reply_goes_back_through_the_provider_that_sent(aliyun: AliyunSms, book: TemplateBook,
                                                                 sandbox: tuple[str, SmsSandbox], callbacks) -> None:
    aliyun.send_batch(book.get("birthday_greeting"), ["13800006301"], GREETING)
    post_json(sandbox[0] + "/sandbox/sms/api/reply", {"phone": "13800006301", "text": "谢谢，收到"})
    (reply,) = parse_aliyun_replies(callbacks.wait_for(ALIYUN_REPLY_PATH)[0])

    assert reply.provider == "aliyun" and reply.text == "谢谢，收到" and not reply.is_opt_out


@pytest.mark.parametrize("text", ["R", "r", "T", "td", "TD", "退订", " 退订。", "Ｒ"])
def test_opt_out_words(text: str) -> None:
    assert is_opt_out(text)


@pytest.mark.parametrize("text", ["", "收到", "RT", "不要退订", "TDD", "R我要办贷款"])
def test_not_opt_out(text: str) -> None:
    assert not is_opt_out(text)


def test_reports_in_the_documented_shapes() -> None:
    (t,) = parse_tencent_reports(
        '[{"user_receive_time": "2027-02-06 09:00:03", "nationcode": "86", "mobile": "13800001234",'
        ' "report_status": "FAIL", "errmsg": "MN:0011", "description": "停机", "sid": "2640:abc"}]'
    )
    (a,) = parse_aliyun_reports(
        [{"phone_number": "13800001234", "send_time": "2027-02-06 09:00:00", "report_time": "2027-02-06 09:00:05",
          "success": False, "err_code": "IS:0011", "err_msg": "用户停机", "sms_size": "1", "biz_id": "9^0",
          "out_id": ""}]
    )
    assert (t.delivered, t.hard_failure, t.reported_at.isoformat()) == (False, True, "2027-02-06T01:00:03+00:00")
    assert (a.delivered, a.hard_failure, a.provider_message_id) == (False, True, "9^0")


def test_malformed_callbacks_are_refused() -> None:
    with pytest.raises(CallbackError):
        parse_tencent_reports("not json")
    with pytest.raises(CallbackError):
        parse_aliyun_reports([{"phone_number": "13800001234"}])  # no biz_id
    with pytest.raises(CallbackError):
        parse_tencent_replies([1, 2])
