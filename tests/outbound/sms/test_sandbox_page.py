"""The sandbox's inbox page, and its refusal of a tampered request."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.parse
import urllib.request

from outbound.sms.config import SandboxAccount
from outbound.sms.sandbox.app import SmsSandbox
from outbound.sms.sandbox.signing import tc3_signature
from outbound.sms.templates import TemplateBook
from outbound.sms.tencent import TencentSms


def test_inbox_page_shows_messages_masked_and_takes_a_reply(
    tencent: TencentSms, book: TemplateBook, sandbox: tuple[str, SmsSandbox]
) -> None:
    url, box = sandbox
    tencent.send_batch(book.get("birthday_greeting"), ["13800007001"], ["张先生", "城关支行"])
    with urllib.request.urlopen(url + "/sandbox/sms?phone=13800007001", timeout=5) as resp:
        page = resp.read().decode()
    assert "138****7001 的收件箱" in page
    assert "生日快乐" in page and "生日祝福 · 计费 1 条" in page
    form = urllib.parse.urlencode({"phone": "13800007001", "text": "R"}).encode()
    with urllib.request.urlopen(urllib.request.Request(url + "/sandbox/sms/reply", data=form), timeout=5) as resp:
        assert "已发送上行短信" in resp.read().decode()
    assert [m.text for m in box.inboxes.messages("13800007001") if m.direction == "in"] == ["R"]


def test_a_body_changed_after_signing_is_rejected(sandbox: tuple[str, SmsSandbox], account: SandboxAccount) -> None:
    url, box = sandbox
    host = url.removeprefix("http://")
    signed = json.dumps({"SmsSdkAppId": account.tencent_sdk_app_id, "PhoneNumberSet": ["+8613800007101"]}).encode()
    sent = signed.replace(b"7101", b"7102")
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", "Host": host}
    signature = tc3_signature(secret_key=account.tencent_secret_key, method="POST", path="/", query="",
                              headers=headers, signed_headers=("content-type", "host"), body=signed,
                              timestamp=timestamp, service="sms")
    date = time.strftime("%Y-%m-%d", time.gmtime(timestamp))
    headers |= {
        "X-TC-Action": "SendSms", "X-TC-Version": "2021-01-11", "X-TC-Timestamp": str(timestamp),
        "Authorization": f"TC3-HMAC-SHA256 Credential={account.tencent_secret_id}/{date}/sms/tc3_request, "
                         f"SignedHeaders=content-type;host, Signature={signature}",
    }
    with urllib.request.urlopen(urllib.request.Request(url + "/", data=sent, headers=headers), timeout=5) as resp:
        answer = json.loads(resp.read())
    assert answer["Response"]["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert hashlib.sha256(sent).hexdigest() != hashlib.sha256(signed).hexdigest()
    assert box.stats.accepted == 0


def test_the_inbox_page_cannot_be_framed_or_driven_by_another_site(sandbox: tuple[str, SmsSandbox]) -> None:
    url, box = sandbox
    with urllib.request.urlopen(url + "/sandbox/sms", timeout=5) as resp:
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    form = urllib.parse.urlencode({"phone": "13800007009", "text": "TD"}).encode()
    forged = urllib.request.Request(url + "/sandbox/sms/reply", data=form, headers={"Origin": "https://evil.example"})
    try:
        urllib.request.urlopen(forged, timeout=5)
        raise AssertionError("a cross-site form post was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 403
    text_plain = urllib.request.Request(
        url + "/sandbox/sms/api/reply", data=b'{"phone": "13800007009", "text": "TD"}',
        headers={"Content-Type": "text/plain"},
    )
    try:
        urllib.request.urlopen(text_plain, timeout=5)
        raise AssertionError("a text/plain post was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 415
    assert not box.inboxes.messages("13800007009")
