"""Tencent Cloud SMS (短信 API 2021-01-11 ``SendSms``) through the official SDK.

One request carries one template and one parameter list for up to 200 numbers; the answer has a
status per number (``SendStatusSet``), so a frequency limit on one number does not hold up the
others. ``SMS_ENDPOINT`` points the same SDK at the local sandbox.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models, sms_client

from outbound.sms.results import SmsResult, all_results, chunks, national_number
from outbound.sms.templates import SmsTemplate

log = logging.getLogger(__name__)

MAX_NUMBERS_PER_REQUEST = 200
OK = "Ok"
# Codes after which the same message may go out later, with how long the limit lasts (seconds).
RETRY_CODES = {
    "LimitExceeded.PhoneNumberThirtySecondLimit": 30.0,
    "LimitExceeded.PhoneNumberOneHourLimit": 3600.0,
    "LimitExceeded.PhoneNumberDailyLimit": 86400.0,
    "LimitExceeded.PhoneNumberSameContentDailyLimit": 86400.0,
    "LimitExceeded.DeliveryFrequencyLimit": 30.0,
    "LimitExceeded.AppDailyLimit": 3600.0,
    "LimitExceeded.AppGlobalDailyLimit": 3600.0,
    "LimitExceeded.AppMainlandChinaDailyLimit": 3600.0,
    "FailedOperation.InsufficientBalanceInSmsPackage": 600.0,
    "ClientNetworkError": 5.0,
    "ServerNetworkError": 5.0,
}
RETRY_PREFIXES = {"RequestLimitExceeded": 1.0, "InternalError": 5.0, "AuthFailure": 600.0}


def classify(code: str) -> tuple[str, float | None]:
    """(outcome, retry_after_s) for a Tencent code: sent, retry (with the limit's length) or failed."""
    if code == OK:
        return "sent", None
    if code in RETRY_CODES:
        return "retry", RETRY_CODES[code]
    for prefix, after in RETRY_PREFIXES.items():
        if code.startswith(prefix):
            return "retry", after
    return "failed", None


def split_endpoint(endpoint: str) -> tuple[str, str]:
    """(protocol, host[:port]) from ``http://127.0.0.1:8091`` or ``127.0.0.1:8091``."""
    if "://" in endpoint:
        scheme, _, rest = endpoint.partition("://")
        return scheme, rest.rstrip("/")
    local = endpoint.startswith(("127.", "localhost", "[::1]"))
    return ("http" if local else "https"), endpoint.rstrip("/")


class TencentSms:
    """The :class:`~outbound.sms.results.SmsProvider` for Tencent Cloud.

    The SDK client keeps one HTTP session: use one instance per thread.
    """

    name = "tencent"
    max_batch = MAX_NUMBERS_PER_REQUEST

    def __init__(
        self,
        *,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        sign_name: str,
        region: str = "ap-guangzhou",
        endpoint: str = "",
        timeout_s: int = 10,
    ) -> None:
        self.sdk_app_id = sdk_app_id
        self.sign_name = sign_name
        http = HttpProfile(reqTimeout=timeout_s, keepAlive=True)
        if endpoint:
            http.protocol, http.endpoint = split_endpoint(endpoint)
            http.scheme = http.protocol
        profile = ClientProfile(httpProfile=http)
        # The region breaker would switch to a backup public endpoint: never wanted here.
        profile.disable_region_breaker = True
        self._client = sms_client.SmsClient(credential.Credential(secret_id, secret_key), region, profile)

    def send_batch(
        self, template: SmsTemplate, phones: Sequence[str], params: Sequence[str], *, context: str = ""
    ) -> list[SmsResult]:
        results: list[SmsResult] = []
        for part in chunks(list(phones), self.max_batch):
            results += self._send_request(template, part, params, context)
        return results

    def send_personalized(
        self, template: SmsTemplate, items: Sequence[tuple[str, Sequence[str]]], *, context: str = ""
    ) -> list[SmsResult]:
        """Each phone with its own parameters: one request per distinct parameter list."""
        groups: dict[tuple[str, ...], list[str]] = {}
        for phone, params in items:
            groups.setdefault(tuple(params), []).append(phone)
        by_phone: dict[str, SmsResult] = {}
        for params, phones in groups.items():
            for result in self.send_batch(template, phones, params, context=context):
                by_phone[result.phone] = result
        return [by_phone[phone] for phone, _ in items]

    def find_sent(self, phone: str, context: str, since: dt.datetime) -> SmsResult | None:
        """The message sent to ``phone`` by the request with ``context`` since ``since``, if the
        provider has it (``PullSmsSendStatusByPhoneNumber``); None when not found.

        Raises TencentCloudSDKException when the provider cannot answer (the caller waits).
        """
        request = models.PullSmsSendStatusByPhoneNumberRequest()
        request.SmsSdkAppId = self.sdk_app_id
        request.PhoneNumber = "+86" + national_number(phone)
        request.BeginTime = int(since.timestamp())
        request.EndTime = int(dt.datetime.now(dt.UTC).timestamp()) + 60
        request.Offset, request.Limit = 0, 100
        response = self._client.PullSmsSendStatusByPhoneNumber(request)
        for status in response.PullSmsSendStatusSet or []:
            if (status.SessionContext or "") == context:
                return SmsResult(phone, "sent", "Ok", provider_message_id=status.SerialNo or "")
        return None

    def _send_request(
        self, template: SmsTemplate, phones: Sequence[str], params: Sequence[str], context: str
    ) -> list[SmsResult]:
        request = models.SendSmsRequest()
        request.SmsSdkAppId = self.sdk_app_id
        request.SignName = self.sign_name
        request.TemplateId = template.tencent_id
        request.TemplateParamSet = [str(p) for p in params]
        request.PhoneNumberSet = ["+86" + national_number(p) for p in phones]
        if context:
            request.SessionContext = context[:512]
        try:
            response = self._client.SendSms(request)
        except TencentCloudSDKException as exc:
            code = exc.get_code() or "InternalError"
            outcome, after = classify(code)
            log.warning("腾讯云短信请求失败 code=%s numbers=%d", code, len(phones))
            return all_results(phones, outcome, code, exc.get_message() or "", after)  # type: ignore[arg-type]
        statuses = {national_number(s.PhoneNumber): s for s in response.SendStatusSet or []}
        results = []
        for phone in phones:
            status = statuses.get(national_number(phone))
            if status is None:
                results.append(SmsResult(phone, "retry", "MissingStatus", "应答中没有该号码的状态", retry_after_s=5.0))
                continue
            outcome, after = classify(status.Code)
            results.append(
                SmsResult(
                    phone,
                    outcome,  # type: ignore[arg-type]
                    status.Code,
                    status.Message or "",
                    provider_message_id=status.SerialNo or "",
                    retry_after_s=after,
                    fee=int(status.Fee or 0),
                )
            )
        return results
