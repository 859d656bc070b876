"""Alibaba Cloud SMS (Dysmsapi 2017-05-25 ``SendSms`` / ``SendBatchSms``) through the official SDK.

``SendSms`` takes one template and one parameter object for up to 1,000 comma-separated numbers;
``SendBatchSms`` takes up to 100 numbers each with its own parameters. Both answer for the
request as a whole (one ``Code``, one ``BizId``): when a frequency limit
(``isv.BUSINESS_LIMIT_CONTROL``) stops a request of several numbers, each number is tried on its
own, so only the numbers that hit the limit wait.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from alibabacloud_dysmsapi20170525 import models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as openapi_models

from outbound.sms.results import SmsResult, all_results, chunks, national_number
from outbound.sms.segments import segments, with_signature
from outbound.sms.templates import SmsTemplate
from outbound.sms.tencent import split_endpoint

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "dysmsapi.aliyuncs.com"
MAX_NUMBERS_SEND_SMS = 1000
MAX_NUMBERS_BATCH = 100
OK = "OK"
LIMIT_CONTROL = "isv.BUSINESS_LIMIT_CONTROL"
RETRY_CODES = {
    LIMIT_CONTROL: 30.0,
    "isv.DAY_LIMIT_CONTROL": 86400.0,
    "isv.AMOUNT_NOT_ENOUGH": 600.0,
    "isv.OUT_OF_SERVICE": 600.0,
    "isp.SYSTEM_ERROR": 5.0,
    "isp.RAM_PERMISSION_DENY": 600.0,
    "SignatureDoesNotMatch": 600.0,
    "SignatureNonceUsed": 1.0,
    "InvalidTimeStamp.Expired": 5.0,
    "InvalidAccessKeyId.NotFound": 600.0,
    "InvalidAccessKeyId.Inactive": 600.0,
    "ServiceUnavailable": 5.0,
    "InternalError": 5.0,
    "NetworkError": 5.0,
}
RETRY_PREFIXES = {"Throttling": 1.0, "isp.": 5.0}


def classify(code: str, message: str = "") -> tuple[str, float | None]:
    """(outcome, retry_after_s) for an Alibaba Cloud code."""
    if code == OK:
        return "sent", None
    if code == LIMIT_CONTROL:
        # "触发分钟级流控Permits:1", "触发小时级流控Permits:5", "触发天级流控Permits:10"
        if "天" in message:
            return "retry", 86400.0
        if "小时" in message:
            return "retry", 3600.0
        return "retry", 30.0
    if code in RETRY_CODES:
        return "retry", RETRY_CODES[code]
    for prefix, after in RETRY_PREFIXES.items():
        if code.startswith(prefix):
            return "retry", after
    return "failed", None


class AliyunSms:
    """The :class:`~outbound.sms.results.SmsProvider` for Alibaba Cloud (one instance per thread)."""

    name = "aliyun"
    max_batch = MAX_NUMBERS_SEND_SMS

    def __init__(
        self,
        *,
        access_key_id: str,
        access_key_secret: str,
        sign_name: str,
        endpoint: str = "",
        timeout_s: int = 10,
    ) -> None:
        self.sign_name = sign_name
        protocol, host = split_endpoint(endpoint or DEFAULT_ENDPOINT)
        config = openapi_models.Config(
            access_key_id=access_key_id,
            access_key_secret=access_key_secret,
            endpoint=host,
            protocol=protocol,
            read_timeout=timeout_s * 1000,
            connect_timeout=timeout_s * 1000,
        )
        self._client = Client(config)

    def send_batch(
        self, template: SmsTemplate, phones: Sequence[str], params: Sequence[str], *, context: str = ""
    ) -> list[SmsResult]:
        named = json.dumps(template.aliyun_params(params), ensure_ascii=False)
        results: list[SmsResult] = []
        for part in chunks(list(phones), self.max_batch):

            def send(numbers: Sequence[str]) -> Any:
                return self._client.send_sms(
                    models.SendSmsRequest(
                        phone_numbers=",".join(national_number(p) for p in numbers),
                        sign_name=self.sign_name,
                        template_code=template.aliyun_code,
                        template_param=named,
                        out_id=context[:256] or None,
                    )
                )

            results += self._send_with_fallback(part, send)
        fee = segments(with_signature(self.sign_name, template.render(params)))
        return [replace(r, fee=fee) if r.outcome == "sent" else r for r in results]

    def send_personalized(
        self, template: SmsTemplate, items: Sequence[tuple[str, Sequence[str]]], *, context: str = ""
    ) -> list[SmsResult]:
        """Each phone with its own parameters, 100 to a ``SendBatchSms`` request."""
        params_of = {phone: params for phone, params in items}
        results: list[SmsResult] = []
        for part in chunks([phone for phone, _ in items], MAX_NUMBERS_BATCH):

            def send(numbers: Sequence[str]) -> Any:
                return self._client.send_batch_sms(
                    models.SendBatchSmsRequest(
                        phone_number_json=json.dumps([national_number(p) for p in numbers]),
                        sign_name_json=json.dumps([self.sign_name] * len(numbers), ensure_ascii=False),
                        template_code=template.aliyun_code,
                        template_param_json=json.dumps(
                            [template.aliyun_params(params_of[p]) for p in numbers], ensure_ascii=False
                        ),
                    )
                )

            results += self._send_with_fallback(part, send)
        # Alibaba does not say what it charged; the text does (signature included).
        return [
            replace(r, fee=segments(with_signature(self.sign_name, template.render(params_of[r.phone]))))
            if r.outcome == "sent" else r
            for r in results
        ]

    def _send_with_fallback(self, phones: Sequence[str], send: Callable[[Sequence[str]], Any]) -> list[SmsResult]:
        code, message, biz_id = self._call(send, phones)
        if code == LIMIT_CONTROL and len(phones) > 1:
            # The limit is per number but the answer is per request: find out which numbers.
            results = []
            for phone in phones:
                results += self._send_with_fallback([phone], send)
            return results
        outcome, after = classify(code, message)
        if outcome == "sent":
            return [SmsResult(p, "sent", code, message, provider_message_id=biz_id) for p in phones]
        return all_results(phones, outcome, code, message, after)  # type: ignore[arg-type]

    @staticmethod
    def _call(send: Callable[[Sequence[str]], Any], phones: Sequence[str]) -> tuple[str, str, str]:
        try:
            body = send(phones).body
        except Exception as exc:  # the SDK raises its own types and the HTTP library's; the code tells
            code = getattr(exc, "code", None) or "NetworkError"
            log.warning("阿里云短信请求失败 code=%s numbers=%d (%s)", code, len(phones), type(exc).__name__)
            return str(code), str(getattr(exc, "message", "") or ""), ""
        return str(body.code or ""), str(body.message or ""), str(body.biz_id or "")
