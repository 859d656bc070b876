"""The SMS sandbox's HTTP side: Tencent Cloud API 3.0 ``SendSms`` and Alibaba Cloud RPC
``SendSms``/``SendBatchSms`` on ``POST /``, with their signatures, template and signature rules,
per-number frequency limits and error codes; delivery reports (状态回执) and inbound replies
(上行短信) pushed to the gateway in each provider's format; the inbox page ``/sandbox/sms``.

Both official SDKs work against it unchanged: point them at ``http://127.0.0.1:8091``
(``SMS_ENDPOINT``). Numbers ending in 0000 are 空号 and numbers ending in 0001 停机: they are
accepted and then reported as failed, as the carriers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from core.masking import mask_phone
from outbound.sms.config import SandboxAccount
from outbound.sms.results import national_number
from outbound.sms.sandbox.limits import DEFAULT_WINDOWS, FrequencyLimiter, Window
from outbound.sms.sandbox.page import render_page
from outbound.sms.sandbox.signing import acs3_signature, parse_authorization, tc3_signature
from outbound.sms.sandbox.store import Inboxes, SandboxSms, SandboxStats
from outbound.sms.segments import segments, with_signature
from outbound.sms.templates import SmsTemplate, TemplateBook, load_templates

log = logging.getLogger(__name__)

CHINA = ZoneInfo("Asia/Shanghai")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
TENCENT_VERSION = "2021-01-11"
TENCENT_MAX_NUMBERS = 200
TENCENT_CLOCK_SKEW_S = 300
ALIYUN_MAX_SEND_SMS = 1000
ALIYUN_MAX_BATCH = 100
ALIYUN_CLOCK_SKEW_S = 900
# Carrier status codes the sandbox reports for unreachable numbers (by the number's last digits).
UNREACHABLE = {"0000": ("MN:0001", "空号"), "0001": ("MN:0011", "停机")}
TENCENT_LIMIT_CODES = {
    "thirty_seconds": "LimitExceeded.PhoneNumberThirtySecondLimit",
    "hour": "LimitExceeded.PhoneNumberOneHourLimit",
    "day": "LimitExceeded.PhoneNumberDailyLimit",
}
ALIYUN_LIMIT_WORDS = {"thirty_seconds": "30秒级", "hour": "小时级", "day": "天级"}

# A push the gateway did not acknowledge is tried again, 0.2 s later and doubling (about 6 s in all).
PUSH_ATTEMPTS = 5
TENCENT_REPORT_PATH = "/sms/tencent/report"
TENCENT_REPLY_PATH = "/sms/tencent/reply"
ALIYUN_REPORT_PATH = "/sms/aliyun/report"
ALIYUN_REPLY_PATH = "/sms/aliyun/reply"


@dataclass
class SmsSandboxSettings:
    account: SandboxAccount = field(default_factory=SandboxAccount)
    templates: TemplateBook = field(default_factory=load_templates)
    # Where delivery reports and replies go (the gateway's base URL); empty: nowhere.
    gateway_url: str = "http://127.0.0.1:8080"
    # The gateway's SMS_CALLBACK_TOKEN, sent as ?token= like the providers' configured URLs.
    # (Settings.sms_callback_token; bankcare sms-sandbox passes it.)
    callback_token: str = ""
    report_delay_s: float = 1.0
    windows: tuple[Window, ...] = DEFAULT_WINDOWS
    # The clock of frequency limits and reports (signatures are checked against the real one).
    clock: Callable[[], float] = time.time


class RequestRefused(Exception):
    def __init__(self, code: str, message: str, status: int = 200) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        self.status = status


def _china_time(at: float) -> str:
    return dt.datetime.fromtimestamp(at, CHINA).strftime("%Y-%m-%d %H:%M:%S")


class SmsSandbox:
    def __init__(self, settings: SmsSandboxSettings) -> None:
        self.settings = settings
        self.limiter = FrequencyLimiter(settings.windows)
        self.inboxes = Inboxes()
        self.stats = SandboxStats()
        self._pushes: asyncio.Queue[tuple[str, dict[str, Any]]] | None = None
        self._push_task: asyncio.Task[None] | None = None
        self._seen_nonces: dict[str, float] = {}

    # ---- shared ---------------------------------------------------------------------------------
    @property
    def signature(self) -> str:
        return self.settings.templates.signature

    def _accept(
        self, provider: str, phone: str, template: SmsTemplate, params: Sequence[str], message_id: str,
        context: str, now: float,
    ) -> SandboxSms:
        self.limiter.record(phone, now)
        text = with_signature(self.signature, template.render(params))
        sms = SandboxSms(
            id=self.inboxes.next_id(), direction="out", provider=provider, phone=phone, text=text, at=now,
            template_key=template.key, template_name=template.name, segments=segments(text), message_id=message_id,
            context=context,
        )
        self.inboxes.add(sms)
        self.stats.accepted += 1
        return sms

    def _schedule_reports(self, sent: list[SandboxSms]) -> None:
        if sent:
            asyncio.get_running_loop().call_later(self.settings.report_delay_s, self._deliver, sent)

    def _deliver(self, sent: list[SandboxSms]) -> None:
        now = self.settings.clock()
        for sms in sent:
            code, description = UNREACHABLE.get(sms.phone[-4:], ("DELIVRD", "用户短信送达成功"))
            sms.status = "delivered" if code == "DELIVRD" else "failed"
            sms.report_code = code
            item: dict[str, Any]
            if sms.provider == "tencent":
                item = {
                    "user_receive_time": _china_time(now), "nationcode": "86", "mobile": sms.phone,
                    "report_status": "SUCCESS" if code == "DELIVRD" else "FAIL", "errmsg": code,
                    "description": description, "sid": sms.message_id,
                }
                self._push(TENCENT_REPORT_PATH, item)
            else:
                item = {
                    "phone_number": sms.phone, "send_time": _china_time(sms.at), "report_time": _china_time(now),
                    "success": code == "DELIVRD", "err_code": "DELIVERED" if code == "DELIVRD" else code,
                    "err_msg": "用户接收成功" if code == "DELIVRD" else description,
                    "sms_size": str(sms.segments), "biz_id": sms.message_id, "out_id": sms.context,
                }
                self._push(ALIYUN_REPORT_PATH, item)

    def receive_reply(self, phone: str, text: str) -> SandboxSms:
        """A customer answers from ``phone``: store it and push it as 上行短信 to the gateway."""
        now = self.settings.clock()
        provider = self.inboxes.last_provider(phone)
        sms = SandboxSms(
            id=self.inboxes.next_id(), direction="in", provider=provider, phone=phone, text=text, at=now,
            status="received",
        )
        self.inboxes.add(sms)
        if provider == "tencent":
            self._push(TENCENT_REPLY_PATH, {
                "extend": "", "mobile": phone, "nationcode": "86", "sign": self.signature, "text": text,
                "time": int(now),
            })
        else:
            self._push(ALIYUN_REPLY_PATH, {
                "phone_number": phone, "send_time": _china_time(now), "content": text,
                "sign_name": self.signature, "dest_code": "", "sequence_id": sms.id,
            })
        return sms

    def _push(self, path: str, item: dict[str, Any]) -> None:
        if self.settings.gateway_url and self._pushes is not None:
            self._pushes.put_nowait((path, item))

    async def start(self, _app: web.Application) -> None:
        self._pushes = asyncio.Queue()
        self._push_task = asyncio.create_task(self._push_loop())

    async def stop(self, _app: web.Application) -> None:
        if self._push_task is not None:
            self._push_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._push_task

    async def _push_loop(self) -> None:
        """Batch what is queued per callback path (up to 100 items) and POST it, retrying a few times.

        Tencent pushes reports as a JSON array and each reply as one object; Alibaba pushes arrays.
        """
        assert self._pushes is not None
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                path, item = await self._pushes.get()
                batch: dict[str, list[dict[str, Any]]] = {path: [item]}
                while not self._pushes.empty() and sum(len(v) for v in batch.values()) < 100:
                    more_path, more = self._pushes.get_nowait()
                    batch.setdefault(more_path, []).append(more)
                for target, items in batch.items():
                    if target == TENCENT_REPLY_PATH:
                        for one in items:
                            await self._post(session, target, one, 1)
                    else:
                        await self._post(session, target, items, len(items))

    async def _post(self, session: aiohttp.ClientSession, path: str, payload: Any, count: int) -> None:
        url = self.settings.gateway_url.rstrip("/") + path
        if self.settings.callback_token:
            url += "?" + urlencode({"token": self.settings.callback_token})
        for attempt in range(PUSH_ATTEMPTS):
            try:
                async with session.post(url, json=payload) as resp:
                    if resp.status < 300:
                        if "reply" in path:
                            self.stats.replies_pushed += count
                        else:
                            self.stats.reports_pushed += count
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2 * 2**attempt)  # like the providers: again a little later
        self.stats.push_failures += count
        log.info("短信沙箱回调失败 path=%s items=%d", path, count)

    # ---- dispatch -------------------------------------------------------------------------------
    async def handle_api(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.stats.requests += 1
        if "X-TC-Action" in request.headers:
            return self._tencent(request, body)
        if "x-acs-action" in request.headers:
            return self._aliyun(request, body)
        self.stats.rejected_requests += 1
        return web.json_response({"error": "neither a Tencent Cloud nor an Alibaba Cloud request"}, status=400)

    # ---- Tencent Cloud API 3.0 ------------------------------------------------------------------
    def _tencent(self, request: web.Request, body: bytes) -> web.Response:
        request_id = str(uuid.uuid4())
        try:
            self._tencent_auth(request, body)
            action = request.headers.get("X-TC-Action", "")
            if action not in ("SendSms", "PullSmsSendStatusByPhoneNumber"):
                raise RequestRefused("InvalidAction", f"接口 {action} 不存在。")
            if request.headers.get("X-TC-Version") != TENCENT_VERSION:
                raise RequestRefused("NoSuchVersion", "接口版本不存在。")
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                raise RequestRefused("InvalidParameter", "请求体不是合法的 JSON。") from None
            if action == "PullSmsSendStatusByPhoneNumber":
                return self._tc_json({"PullSmsSendStatusSet": self._tencent_pull(params), "RequestId": request_id})
            statuses = self._tencent_send(params)
        except RequestRefused as refused:
            self.stats.rejected_requests += 1
            self.stats.count(refused.code)
            return self._tc_json({"Error": {"Code": refused.code, "Message": refused.message}, "RequestId": request_id})
        return self._tc_json({"SendStatusSet": statuses, "RequestId": request_id})

    @staticmethod
    def _tc_json(response: dict[str, Any]) -> web.Response:
        # Exactly application/json: the SDK only reads errors from that content type.
        return web.Response(body=json.dumps({"Response": response}, ensure_ascii=False).encode(),
                            headers={"Content-Type": "application/json"})

    def _tencent_auth(self, request: web.Request, body: bytes) -> None:
        auth = parse_authorization(request.headers.get("Authorization", ""))
        if auth is None or auth.algorithm != "TC3-HMAC-SHA256":
            raise RequestRefused("AuthFailure.SignatureFailure", "请求签名格式错误。")
        secret_id, _, scope = auth.credential.partition("/")
        if secret_id != self.settings.account.tencent_secret_id:
            raise RequestRefused("AuthFailure.SecretIdNotFound", "密钥不存在。")
        try:
            timestamp = int(request.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            raise RequestRefused("AuthFailure.SignatureFailure", "缺少 X-TC-Timestamp。") from None
        if abs(time.time() - timestamp) > TENCENT_CLOCK_SKEW_S:  # the SDK signs with the real clock
            raise RequestRefused("AuthFailure.SignatureExpire", "签名过期，请检查本机时间。")
        service = scope.split("/")[1] if scope.count("/") >= 2 else ""
        expected = tc3_signature(
            secret_key=self.settings.account.tencent_secret_key, method=request.method, path=request.path,
            query=request.query_string, headers=request.headers, signed_headers=auth.signed_headers,
            body=body, timestamp=timestamp, service=service,
        )
        if service != "sms" or not hmac_equal(expected, auth.signature):
            raise RequestRefused("AuthFailure.SignatureFailure", "请求签名验证失败，请检查您的签名计算是否正确。")

    def _tencent_pull(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """``PullSmsSendStatusByPhoneNumber``: what was sent to one number between two times."""
        if str(params.get("SmsSdkAppId", "")) != self.settings.account.tencent_sdk_app_id:
            raise RequestRefused("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId 不存在。")
        try:
            begin = int(params.get("BeginTime", 0))
            end = int(params.get("EndTime") or 2**31)
            offset, limit = int(params.get("Offset", 0)), int(params.get("Limit", 100))
        except (TypeError, ValueError):
            raise RequestRefused("InvalidParameter", "时间或分页参数不是整数。") from None
        phone = national_number(str(params.get("PhoneNumber", "")))
        found = [m for m in self.inboxes.messages(phone)
                 if m.direction == "out" and m.provider == "tencent" and begin <= m.at <= end]
        return [
            {"UserReceiveTime": int(m.at), "CountryCode": "86", "SubscriberNumber": phone,
             "PhoneNumber": "+86" + phone, "SerialNo": m.message_id,
             "ReportStatus": "SUCCESS" if m.status != "failed" else "FAIL",
             "Description": m.report_code, "SessionContext": m.context}
            for m in found[offset : offset + min(limit, 100)]
        ]

    def _tencent_send(self, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        if str(params.get("SmsSdkAppId", "")) != self.settings.account.tencent_sdk_app_id:
            raise RequestRefused("InvalidParameterValue.SdkAppIdNotExist", "SdkAppId 不存在。")
        if params.get("SignName") != self.signature:
            raise RequestRefused("FailedOperation.SignatureIncorrectOrUnapproved", "签名未审批或格式错误。")
        template = self.settings.templates.by_tencent_id(str(params.get("TemplateId", "")))
        if template is None:
            raise RequestRefused("FailedOperation.TemplateIncorrectOrUnapproved", "模板未审批或内容不合规。")
        values = [str(v) for v in params.get("TemplateParamSet") or []]
        if len(values) != len(template.params):
            raise RequestRefused("FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
                                 "请求内容与审核通过的模板内容不匹配。")
        numbers = list(params.get("PhoneNumberSet") or [])
        if not numbers:
            raise RequestRefused("MissingParameter", "缺少参数 PhoneNumberSet。")
        if len(numbers) > TENCENT_MAX_NUMBERS:
            raise RequestRefused("LimitExceeded.PhoneNumberCountLimit", "单次请求的手机号个数超过上限 200。")
        now = self.settings.clock()
        context = str(params.get("SessionContext") or "")
        statuses: list[dict[str, Any]] = []
        sent: list[SandboxSms] = []
        for number in numbers:
            phone = national_number(str(number))
            status: dict[str, Any] = {"SerialNo": "", "PhoneNumber": str(number), "Fee": 0,
                                      "SessionContext": context, "IsoCode": "CN"}
            if not MOBILE.match(phone):
                status.update(Code="InvalidParameterValue.IncorrectPhoneNumber", Message="手机号格式错误。")
            elif (window := self.limiter.exceeded(phone, now)) is not None:
                status.update(Code=TENCENT_LIMIT_CODES[window.name],
                              Message=f"该号码{window.seconds:.0f}秒内的短信条数超过上限 {window.limit} 条。")
            else:
                sms = self._accept("tencent", phone, template, values, f"2640:{uuid.uuid4().hex[:24]}", context, now)
                sent.append(sms)
                status.update(SerialNo=sms.message_id, Fee=sms.segments, Code="Ok", Message="send success")
            if status["Code"] != "Ok":
                self.stats.refused_numbers += 1
            self.stats.count(status["Code"])
            statuses.append(status)
        self._schedule_reports(sent)
        return statuses

    # ---- Alibaba Cloud RPC (ACS3) ---------------------------------------------------------------
    def _aliyun(self, request: web.Request, body: bytes) -> web.Response:
        request_id = str(uuid.uuid4()).upper()
        try:
            query = dict(parse_qsl(request.query_string, keep_blank_values=True))
            self._aliyun_auth(request, body, query)
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True)) if body else {}
            params = {**query, **form}
            action = request.headers.get("x-acs-action", "")
            if action == "SendSms":
                biz_id = self._aliyun_send_sms(params)
            elif action == "SendBatchSms":
                biz_id = self._aliyun_send_batch(params)
            else:
                raise RequestRefused("InvalidAction.NotFound", f"Specified api {action} is not found.", 404)
        except RequestRefused as refused:
            self.stats.count(refused.code)
            self.stats.rejected_requests += 1
            payload = {"RequestId": request_id, "Code": refused.code, "Message": refused.message}
            if refused.status != 200:
                payload["HostId"] = request.host
            return web.json_response(payload, status=refused.status)
        self.stats.count("OK")
        return web.json_response({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": request_id})

    def _aliyun_auth(self, request: web.Request, body: bytes, query: Mapping[str, str]) -> None:
        auth = parse_authorization(request.headers.get("Authorization", ""))
        if auth is None or auth.algorithm != "ACS3-HMAC-SHA256":
            raise RequestRefused(
                "IncompleteSignature", "The request signature does not conform to Aliyun standards.", 400
            )
        if auth.credential != self.settings.account.aliyun_access_key_id:
            raise RequestRefused("InvalidAccessKeyId.NotFound", "Specified access key is not found.", 404)
        payload_hash = request.headers.get("x-acs-content-sha256", "")
        if payload_hash != hashlib.sha256(body).hexdigest():
            raise RequestRefused("SignatureDoesNotMatch", "x-acs-content-sha256 与请求体不符。", 400)
        try:
            signed_at = dt.datetime.strptime(request.headers.get("x-acs-date", "") + "+0000", "%Y-%m-%dT%H:%M:%SZ%z")
        except ValueError:
            raise RequestRefused("MissingParameter", "x-acs-date is mandatory for this action.", 400) from None
        now = time.time()
        if abs(now - signed_at.timestamp()) > ALIYUN_CLOCK_SKEW_S:
            raise RequestRefused("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", 400)
        expected = acs3_signature(
            secret=self.settings.account.aliyun_access_key_secret, method=request.method, path=request.path,
            query=query, headers=request.headers, signed_headers=auth.signed_headers, payload_hash=payload_hash,
        )
        required = {"host", "x-acs-action", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"}
        if not required <= set(auth.signed_headers) or not hmac_equal(expected, auth.signature):
            raise RequestRefused("SignatureDoesNotMatch",
                                 "Specified signature does not match our calculation.", 400)
        nonce = request.headers.get("x-acs-signature-nonce", "")
        self._seen_nonces = {n: t for n, t in self._seen_nonces.items() if t > now - ALIYUN_CLOCK_SKEW_S} \
            if len(self._seen_nonces) > 100_000 else self._seen_nonces
        if nonce in self._seen_nonces:
            raise RequestRefused("SignatureNonceUsed", "Specified signature nonce was used already.", 400)
        self._seen_nonces[nonce] = now

    def _aliyun_template(self, params: Mapping[str, str]) -> SmsTemplate:
        template = self.settings.templates.by_aliyun_code(params.get("TemplateCode", ""))
        if template is None:
            raise RequestRefused("isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        return template

    def _aliyun_values(self, template: SmsTemplate, raw: Any) -> list[str]:
        if not isinstance(raw, dict):
            raise RequestRefused("isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
        missing = [name for name in template.params if name not in raw]
        if missing:
            raise RequestRefused("isv.TEMPLATE_MISSING_PARAMETERS", f"模板变量缺少对应参数值：{','.join(missing)}")
        return [str(raw[name]) for name in template.params]

    def _aliyun_numbers(self, numbers: list[str], most: int) -> list[str]:
        if not numbers or len(numbers) > most:
            raise RequestRefused("isv.MOBILE_COUNT_OVER_LIMIT", f"手机号码数量超过限制（最多{most}个）")
        phones = [national_number(n) for n in numbers]
        if any(not MOBILE.match(p) for p in phones):
            raise RequestRefused("isv.MOBILE_NUMBER_ILLEGAL", "手机号码格式错误")
        now = self.settings.clock()
        for phone in phones:
            window = self.limiter.exceeded(phone, now)
            if window is not None:
                raise RequestRefused("isv.BUSINESS_LIMIT_CONTROL",
                                     f"触发{ALIYUN_LIMIT_WORDS[window.name]}流控Permits:{window.limit}")
        return phones

    def _check_sign(self, sign_name: str) -> None:
        if sign_name != self.signature:
            raise RequestRefused("isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")

    def _aliyun_send_sms(self, params: Mapping[str, str]) -> str:
        self._check_sign(params.get("SignName", ""))
        template = self._aliyun_template(params)
        try:
            raw = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            raise RequestRefused("isv.INVALID_JSON_PARAM", "JSON参数不合法") from None
        values = self._aliyun_values(template, raw)
        phones = self._aliyun_numbers([n for n in params.get("PhoneNumbers", "").split(",") if n],
                                      ALIYUN_MAX_SEND_SMS)
        biz_id = f"{int(time.time() * 1000)}{uuid.uuid4().int % 10**6:06d}^0"
        now = self.settings.clock()
        sent = [self._accept("aliyun", p, template, values, biz_id, params.get("OutId", ""), now) for p in phones]
        self._schedule_reports(sent)
        return biz_id

    def _aliyun_send_batch(self, params: Mapping[str, str]) -> str:
        template = self._aliyun_template(params)
        try:
            numbers = json.loads(params.get("PhoneNumberJson") or "[]")
            signs = json.loads(params.get("SignNameJson") or "[]")
            raws = json.loads(params.get("TemplateParamJson") or "[]")
        except ValueError:
            raise RequestRefused("isv.INVALID_JSON_PARAM", "JSON参数不合法") from None
        if not (isinstance(numbers, list) and isinstance(signs, list) and isinstance(raws, list)) \
                or not len(numbers) == len(signs) == len(raws):
            raise RequestRefused(
                "isv.INVALID_PARAMETERS", "PhoneNumberJson、SignNameJson、TemplateParamJson 个数不一致"
            )
        for sign in signs:
            self._check_sign(str(sign))
        values = [self._aliyun_values(template, raw) for raw in raws]
        phones = self._aliyun_numbers([str(n) for n in numbers], ALIYUN_MAX_BATCH)
        biz_id = f"{int(time.time() * 1000)}{uuid.uuid4().int % 10**6:06d}^0"
        now = self.settings.clock()
        sent = [self._accept("aliyun", p, template, v, biz_id, "", now) for p, v in zip(phones, values, strict=True)]
        self._schedule_reports(sent)
        return biz_id

    # ---- page and test API ----------------------------------------------------------------------
    async def page(self, request: web.Request) -> web.Response:
        phone = request.query.get("phone", "")
        html = render_page(self.inboxes.phones(), phone, self.inboxes.messages(phone) if phone else [],
                           notice=request.query.get("notice", ""))
        return web.Response(text=html, content_type="text/html")

    async def page_reply(self, request: web.Request) -> web.Response:
        if not _same_origin(request):
            # Another site's page could otherwise post "TD" as any phone and opt it out of SMS.
            return web.json_response({"error": "只接受本页面提交的上行短信"}, status=403)
        form = await request.post()
        phone = national_number(str(form.get("phone", "")))
        text = str(form.get("text", "")).strip()
        if not MOBILE.match(phone) or not text:
            raise web.HTTPSeeOther(f"/sandbox/sms?phone={phone}&notice=请填写正确的手机号和回复内容")
        self.receive_reply(phone, text[:500])
        log.info("短信沙箱上行 %s", mask_phone(phone))
        raise web.HTTPSeeOther(f"/sandbox/sms?phone={phone}&notice=已发送上行短信")

    async def api_messages(self, request: web.Request) -> web.Response:
        phone = national_number(request.query.get("phone", ""))
        return web.json_response([asdict(m) for m in self.inboxes.messages(phone)])

    async def api_reply(self, request: web.Request) -> web.Response:
        if request.content_type != "application/json":
            return web.json_response({"error": "请求须为 application/json"}, status=415)
        try:
            data = await request.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return web.json_response({"error": "请求不是有效的 JSON 对象"}, status=400)
        phone = national_number(str(data.get("phone", "")))
        if not MOBILE.match(phone):
            return web.json_response({"error": "手机号不正确"}, status=400)
        sms = self.receive_reply(phone, str(data.get("text", ""))[:500])
        return web.json_response(asdict(sms))

    async def api_stats(self, _request: web.Request) -> web.Response:
        return web.json_response(asdict(self.stats))


def hmac_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


SANDBOX_KEY: web.AppKey[SmsSandbox] = web.AppKey("sms_sandbox", SmsSandbox)

# The inbox page has its style inline and a plain form; nothing else may load, frame it or post to it.
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"


def _same_origin(request: web.Request) -> bool:
    """A form post from the sandbox's own page (browsers send Origin on POST; curl sends none)."""
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


async def _hardening_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.content_type == "text/html":
        response.headers["Content-Security-Policy"] = PAGE_CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"


def create_sms_sandbox_app(settings: SmsSandboxSettings | None = None) -> web.Application:
    sandbox = SmsSandbox(settings or SmsSandboxSettings())
    # Alibaba's SDK puts SendSms's up to 1,000 numbers in the query string: allow long request lines.
    app = web.Application(client_max_size=4 * 1024 * 1024, handler_args={"max_line_size": 65536})
    app[SANDBOX_KEY] = sandbox
    app.on_response_prepare.append(_hardening_headers)
    app.on_startup.append(sandbox.start)
    app.on_cleanup.append(sandbox.stop)
    app.router.add_post("/", sandbox.handle_api)
    app.router.add_get("/sandbox/sms", sandbox.page)
    app.router.add_post("/sandbox/sms/reply", sandbox.page_reply)
    app.router.add_get("/sandbox/sms/api/messages", sandbox.api_messages)
    app.router.add_post("/sandbox/sms/api/reply", sandbox.api_reply)
    app.router.add_get("/sandbox/sms/api/stats", sandbox.api_stats)
    return app
