"""``bankcare retention run``: delete conversation texts, SMS records and audit events past their
retention (RETENTION_*_DAYS; the scheduler also runs this daily). ``--dry-run`` only counts."""

from __future__ import annotations

import argparse
from typing import Any

from core.settings import Settings


def run(args: argparse.Namespace) -> int:
    from core.db import make_engine, make_sessionmaker
    from crm.access.retention import RetentionPolicy, run_retention

    settings = Settings.from_env()
    policy = RetentionPolicy.from_settings(settings)
    engine = make_engine(settings.database_url)
    try:
        result = run_retention(make_sessionmaker(engine), policy, dry_run=args.dry_run)
    finally:
        engine.dispose()
    verb = "将删除 (would delete)" if args.dry_run else "已删除 (deleted)"

    def keep(days: int) -> str:
        return f"保留 {days} 天" if days else "永久保留"

    print(f"对话内容 messages: {verb} {result.messages} 条（{keep(policy.messages_days)}）")
    print(f"短信发件箱 sms_outbox: {verb} {result.sms} 条（{keep(policy.sms_days)}）")
    print(f"短信发送记录 sms_messages: {verb} {result.sms_messages} 条（{keep(policy.sms_days)}）")
    print(f"客户回复短信 sms_inbound: {verb} {result.sms_inbound} 条（{keep(policy.sms_days)}）")
    print(f"号码可达状态 sms_reach: {verb} {result.sms_reach} 条（{keep(policy.sms_days)}）")
    print(f"审计记录 audit_events: {verb} {result.audit} 条（{keep(policy.audit_days)}）")
    if not args.dry_run:
        print(f"验证码计数 otp_guards: 已删除 (deleted) {result.otp_guards} 条（闲置 2 天后）")
    return 0


def register(subparsers: Any) -> None:
    """Add ``retention run`` to the ``bankcare`` CLI."""
    parser = subparsers.add_parser(
        "retention", help="按保留期限删除旧数据 (delete data past its retention)", description=__doc__
    )
    actions = parser.add_subparsers(dest="retention_command", required=True)
    run_parser = actions.add_parser("run", help="立即执行一次 (run once now)")
    run_parser.add_argument("--dry-run", action="store_true", help="只统计，不删除 (count only)")
    run_parser.set_defaults(func=run)
