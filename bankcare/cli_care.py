"""``bankcare care load|preview|run-due|report``: campaigns from YAML, what would go out, reports."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from collections import Counter
from pathlib import Path

from core.settings import Settings

STATUS_ZH = {"planned": "将发送", "deferred": "将推迟发送", "suppressed": "不发送", "exists": "已在计划中"}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``care`` and its subcommands to the ``bankcare`` CLI."""
    care = subparsers.add_parser("care", help="客户关怀活动：加载、预览、发送、报告 (care campaigns)")
    sub = care.add_subparsers(dest="care_command", metavar="子命令", required=True)

    load = sub.add_parser("load", help="把 care/campaigns/*.yml 加载到数据库 (YAML → DB)")
    load.add_argument("--dir", type=Path, default=None, help="活动定义目录，默认内置目录")
    load.set_defaults(func=cmd_load)

    preview = sub.add_parser("preview", help="预览某天会发给谁、为什么、哪些不发及原因（不发送）")
    preview.add_argument("--date", required=True, help="日期 YYYY-MM-DD（北京时间）")
    preview.add_argument("--campaign", action="append", help="只看这个活动（可重复）")
    preview.add_argument("--limit", type=int, default=50, help="每类最多列出多少条，默认 50")
    preview.add_argument("--show-text", action="store_true", help="同时显示消息正文")
    preview.set_defaults(func=cmd_preview)

    run_due = sub.add_parser("run-due", help="规划今天的活动并发送所有到期消息")
    run_due.add_argument("--date", help="规划哪天（默认今天，北京时间）")
    run_due.set_defaults(func=cmd_run_due)

    report = sub.add_parser("report", help="活动报告：送达、推迟、未发送、失败、回复、退订")
    report.add_argument("campaign", help="活动代码，如 birthday_greeting")
    report.add_argument("--png", type=Path, help="同时输出柱状图 PNG")
    report.set_defaults(func=cmd_report)


def _factory():  # type: ignore[no-untyped-def]
    from core.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(Settings.from_env().database_url))


def cmd_load(args: argparse.Namespace) -> int:
    from care.definitions import CAMPAIGN_DIR, DefinitionError, load_into_db, read_files
    from core.db import session_scope

    try:
        definitions = read_files(args.dir or CAMPAIGN_DIR)
    except DefinitionError as exc:
        print(f"活动定义有误：{exc}", file=sys.stderr)
        return 1
    with session_scope(_factory()) as session:
        created, updated = load_into_db(session, definitions)
    print(f"已加载 {len(definitions)} 个活动（新增 {created}，更新 {updated}）")
    from bankcare.cli_surveys import load_surveys  # surveys live beside the campaigns (#24)

    return load_surveys(args.dir / "surveys" if args.dir else None)


def cmd_preview(args: argparse.Namespace) -> int:
    from care.compliance import TZ
    from care.planner import plan_day
    from care.report import CHANNEL_ZH, REASONS_ZH
    from care.sms_channel import estimated_cost, price_per_segment
    from core.db import session_scope

    day = dt.date.fromisoformat(args.date)
    with session_scope(_factory()) as session:
        result = plan_day(session, day, dry_run=True, codes=args.campaign)
        session.rollback()  # a preview never writes, even by accident
    print(f"{day.isoformat()} 预览（不会发送任何消息）  分群版本：{result.segment_version or '无'}")
    by_status = Counter(d.status for d in result.decisions)
    for status in ("planned", "deferred", "suppressed", "exists"):
        group = [d for d in result.decisions if d.status == status]
        if not group:
            continue
        print(f"\n== {STATUS_ZH[status]}：{len(group):,} 条 ==")
        for d in group[: args.limit]:
            at = d.not_before.astimezone(TZ).strftime("%m-%d %H:%M")
            reason = f" ｜ 原因：{REASONS_ZH.get(d.reason or '', d.reason)}" if d.reason else ""
            channel = CHANNEL_ZH.get(d.channel or "-", d.channel)
            print(f"  {d.campaign:<28} {d.name_masked:<6} {channel:<5} {at} ｜ {d.why}{reason}")
            if args.show_text:
                print("      " + d.text.replace("\n", "\n      "))
                if d.channel == "sms":
                    print(f"      （短信 {len(d.text)} 字，计费 {d.segments} 条）")
        if len(group) > args.limit:
            print(f"  …… 另有 {len(group) - args.limit:,} 条")
    print(
        "\n合计：" + "，".join(f"{STATUS_ZH[s]} {n:,}" for s, n in by_status.items())
        if by_status
        else "\n当天没有消息。"
    )
    going = [d for d in result.decisions if d.status in ("planned", "deferred")]
    if going:
        by_channel = Counter(d.channel or "-" for d in going)
        print("按渠道：" + "，".join(f"{CHANNEL_ZH.get(c, c)} {n:,}" for c, n in by_channel.most_common()))
        billed = sum(d.segments for d in going if d.channel == "sms")
        if billed:
            price = price_per_segment()
            print(f"短信计费：{billed:,} 条，预计 {estimated_cost(billed, price):,} 元（每条 {price} 元）")
    return 0


def cmd_run_due(args: argparse.Namespace) -> int:
    from care_scheduler.service import _load_sender, run_due

    settings = Settings.from_env()
    day = dt.date.fromisoformat(args.date) if args.date else None
    planned, processed = asyncio.run(run_due(_factory(), _load_sender(settings), day=day))
    print(f"新计划 {planned:,} 条，本次处理 {processed:,} 条到期消息")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from care.report import UnknownCampaign, build, write_png
    from core.db import session_scope

    with session_scope(_factory()) as session:
        try:
            report = build(session, args.campaign)
        except UnknownCampaign:
            print(f"没有这个活动：{args.campaign}（先运行 bankcare care load）", file=sys.stderr)
            return 1
    print("\n".join(report.lines()))
    if args.png:
        write_png(report, args.png)
        print(f"图表已保存：{args.png}")
    return 0
