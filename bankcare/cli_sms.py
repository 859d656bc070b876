"""``bankcare sms-sandbox`` (the local SMS provider sandbox) and ``bankcare sms-send`` (one test SMS)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.masking import mask_phone
from core.settings import Settings

RESULT_WORDS = {"sent": "已提交", "retry": "稍后重试", "failed": "发送失败"}


def run_sandbox(args: argparse.Namespace) -> int:
    """Serve the sandbox until interrupted."""
    from aiohttp import web

    from outbound.sms.config import sandbox_account
    from outbound.sms.sandbox.app import SmsSandboxSettings, create_sms_sandbox_app

    env = Settings.from_env()
    settings = SmsSandboxSettings(
        account=sandbox_account(env), gateway_url=args.gateway, report_delay_s=args.report_delay,
        callback_token=env.sms_callback_token,
    )
    target = f"回执与上行推送到 {args.gateway}" if args.gateway else "不推送回执"
    print(f"短信沙箱: http://{args.host}:{args.port}/sandbox/sms  （{target}）")
    web.run_app(create_sms_sandbox_app(settings), host=args.host, port=args.port, print=None)
    return 0


def run_send(args: argparse.Namespace) -> int:
    """Send one template SMS through SMS_BACKEND and say what became of it."""
    from outbound.sms.config import make_sms_provider
    from outbound.sms.templates import TemplateError, load_templates

    book = load_templates()
    try:
        template = book.get(args.template)
        text = book.full_text(args.template, args.params)
    except TemplateError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    provider = make_sms_provider(Settings.from_env())
    (result,) = provider.send_batch(template, [args.phone], args.params)
    print(f"{text}\n（{len(text)} 字，计费 {book.segments(args.template, args.params)} 条）")
    print(f"{mask_phone(args.phone)}：{RESULT_WORDS[result.outcome]}（{provider.name} {result.code}）")
    return 0 if result.outcome == "sent" else 1


def register(subparsers: Any) -> None:
    """Add ``sms-sandbox`` and ``sms-send`` to the ``bankcare`` CLI."""
    sandbox = subparsers.add_parser(
        "sms-sandbox",
        help="本地短信接口沙箱：腾讯云、阿里云短信 API，收件箱页面 (local SMS provider sandbox)",
        description="Serve Tencent Cloud SendSms and Alibaba Cloud SendSms/SendBatchSms with their signatures, "
        "template rules, frequency limits and error codes; push delivery reports and replies to the gateway.",
    )
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8091)
    sandbox.add_argument("--gateway", default="http://127.0.0.1:8080",
                         help="回执和上行短信推送到的网关地址；空字符串表示不推送")
    sandbox.add_argument("--report-delay", type=float, default=1.0, help="提交后多少秒推送状态回执")
    sandbox.set_defaults(func=run_sandbox)

    send = subparsers.add_parser("sms-send", help="按模板发一条测试短信 (send one template SMS via SMS_BACKEND)")
    send.add_argument("template", help="模板名，见 crm/sms_templates.yml")
    send.add_argument("phone", help="手机号")
    send.add_argument("params", nargs="*", help="模板参数，按顺序")
    send.set_defaults(func=run_send)
