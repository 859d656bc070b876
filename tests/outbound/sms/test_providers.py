"""The real Tencent Cloud and Alibaba Cloud SDKs against the SMS sandbox (started on a free port)."""

from __future__ import annotations

import dataclasses

from outbound.sms.aliyun import AliyunSms
from outbound.sms.config import SandboxAccount
from outbound.sms.sandbox.app import SmsSandbox
from outbound.sms.templates import TemplateBook
from outbound.sms.tencent import TencentSms

GREETING = ["张先生", "城关支行"]


def phones(start: int, n: int) -> list[str]:
    return [f"139{start + i:08d}" for i in range(n)]


def test_tencent_batch_of_250_goes_in_two_requests_and_every_number_is_sent(
    tencent: TencentSms, sandbox: tuple[str, SmsSandbox], book: TemplateBook
) -> None:
    numbers = phones(10_000, 250)
    results = tencent.send_batch(book.get("birthday_greeting"), numbers, GREETING, context="birthday:2027-02-06")

    assert [r.phone for r in results] == numbers
    assert {r.outcome for r in results} == {"sent"}
    assert all(r.provider_message_id and r.fee == 1 for r in results)
    _, box = sandbox
    assert box.stats.requests == 2  # 200 + 50: Tencent's limit per request
    (sms,) = box.inboxes.messages(numbers[-1])
    assert sms.text == "【XX农商银行】张先生，生日快乐！城关支行全体员工祝您身体健康、阖家幸福、万事顺意。拒收请回复R"


def test_aliyun_send_sms_and_send_batch_sms(aliyun: AliyunSms, sandbox: tuple[str, SmsSandbox], book: TemplateBook) -> None:
    template = book.get("loan_repayment_reminder")
    shared = aliyun.send_batch(template, phones(20_000, 3), ["您", "12月10日", "1,200.00"])
    personal = aliyun.send_personalized(
        template, [("13700001111", ["王先生", "12月10日", "800.00"]), ("13700002222", ["李女士", "12月11日", "95.50"])]
    )

    assert {r.outcome for r in shared + personal} == {"sent"}
    assert len({r.provider_message_id for r in shared}) == 1  # one BizId per request
    _, box = sandbox
    assert "李女士您好！您的贷款将于12月11日还款，本期应还95.50元。" in box.inboxes.messages("13700002222")[0].text


def test_unregistered_template_and_wrong_parameters_fail(
    tencent: TencentSms, aliyun: AliyunSms, book: TemplateBook, sandbox: tuple[str, SmsSandbox]
) -> None:
    unknown = dataclasses.replace(book.get("birthday_greeting"), tencent_id="999999", aliyun_code="SMS_999999")
    (t,) = tencent.send_batch(unknown, ["13800001001"], GREETING)
    (a,) = aliyun.send_batch(unknown, ["13800001002"], GREETING)
    (wrong_count,) = tencent.send_batch(book.get("birthday_greeting"), ["13800001003"], ["只有一个参数"])

    assert (t.outcome, t.code) == ("failed", "FailedOperation.TemplateIncorrectOrUnapproved")
    assert (a.outcome, a.code) == ("failed", "isv.SMS_TEMPLATE_ILLEGAL")
    assert (wrong_count.outcome, wrong_count.code) == (
        "failed", "FailedOperation.TemplateParamSetNotMatchApprovedTemplate")
    assert sandbox[1].stats.accepted == 0


def test_invalid_number_fails_alone_in_a_tencent_batch(tencent: TencentSms, book: TemplateBook) -> None:
    ok, bad = tencent.send_batch(book.get("birthday_greeting"), ["13800001004", "12345"], GREETING)
    assert ok.outcome == "sent"
    assert (bad.outcome, bad.code) == ("failed", "InvalidParameterValue.IncorrectPhoneNumber")


def test_tencent_frequency_limits_are_retried_later_not_lost(tencent: TencentSms, book: TemplateBook, clock) -> None:
    template = book.get("binding_code")
    phone = "13800002001"

    def send() -> tuple[str, str, float | None]:
        (r,) = tencent.send_batch(template, [phone], ["123456", "5"])
        return r.outcome, r.code, r.retry_after_s

    assert send()[0] == "sent"
    assert send() == ("retry", "LimitExceeded.PhoneNumberThirtySecondLimit", 30.0)
    for _ in range(4):  # 5 per hour
        clock.advance(31)
        assert send()[0] == "sent"
    clock.advance(31)
    assert send() == ("retry", "LimitExceeded.PhoneNumberOneHourLimit", 3600.0)
    for _ in range(5):  # 10 per day
        clock.advance(3601)
        assert send()[0] == "sent"
    clock.advance(3601)
    assert send() == ("retry", "LimitExceeded.PhoneNumberDailyLimit", 86400.0)
    clock.advance(86401)
    assert send()[0] == "sent"


def test_aliyun_limit_on_one_number_holds_back_only_that_number(aliyun: AliyunSms, book: TemplateBook) -> None:
    template = book.get("birthday_greeting")
    aliyun.send_batch(template, ["13800003001"], GREETING)
    results = aliyun.send_batch(template, ["13800003001", "13800003002", "13800003003"], GREETING)

    assert [(r.outcome, r.code) for r in results] == [
        ("retry", "isv.BUSINESS_LIMIT_CONTROL"), ("sent", "OK"), ("sent", "OK")]
    assert results[0].retry_after_s == 30.0


def test_unapproved_sms_signature_is_refused(
    account: SandboxAccount, sandbox: tuple[str, SmsSandbox], book: TemplateBook
) -> None:
    url, box = sandbox
    tencent = TencentSms(secret_id=account.tencent_secret_id, secret_key=account.tencent_secret_key,
                         sdk_app_id=account.tencent_sdk_app_id, sign_name="别的银行", endpoint=url)
    aliyun = AliyunSms(access_key_id=account.aliyun_access_key_id,
                       access_key_secret=account.aliyun_access_key_secret, sign_name="别的银行", endpoint=url)
    (t,) = tencent.send_batch(book.get("birthday_greeting"), ["13800004001"], GREETING)
    (a,) = aliyun.send_batch(book.get("birthday_greeting"), ["13800004002"], GREETING)

    assert (t.outcome, t.code) == ("failed", "FailedOperation.SignatureIncorrectOrUnapproved")
    assert (a.outcome, a.code) == ("failed", "isv.SMS_SIGNATURE_ILLEGAL")
    assert box.stats.accepted == 0


def test_request_signed_with_the_wrong_secret_is_rejected(
    account: SandboxAccount, sandbox: tuple[str, SmsSandbox], book: TemplateBook
) -> None:
    url, box = sandbox
    tencent = TencentSms(secret_id=account.tencent_secret_id, secret_key="not-the-secret",
                         sdk_app_id=account.tencent_sdk_app_id, sign_name=book.signature, endpoint=url)
    aliyun = AliyunSms(access_key_id=account.aliyun_access_key_id, access_key_secret="not-the-secret",
                       sign_name=book.signature, endpoint=url)
    (t,) = tencent.send_batch(book.get("birthday_greeting"), ["13800005001"], GREETING)
    (a,) = aliyun.send_batch(book.get("birthday_greeting"), ["13800005002"], GREETING)

    # Nothing went out; an operator can fix the credentials, so the messages wait rather than die.
    assert (t.outcome, t.code) == ("retry", "AuthFailure.SignatureFailure")
    assert (a.outcome, a.code) == ("retry", "SignatureDoesNotMatch")
    assert box.stats.accepted == 0


def test_aliyun_send_sms_takes_1000_numbers_in_one_request(
    aliyun: AliyunSms, sandbox: tuple[str, SmsSandbox], book: TemplateBook
) -> None:
    # The SDK puts all 1,000 numbers in the query string (~12 KB): the sandbox must take it, as Alibaba does.
    results = aliyun.send_batch(book.get("birthday_greeting"), phones(30_000, 1000), GREETING)
    assert {r.outcome for r in results} == {"sent"}
    assert sandbox[1].stats.requests == 1
