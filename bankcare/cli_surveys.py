"""``bankcare surveys report|plan``: satisfaction survey results and invitations (#24).

Survey definitions (``care/surveys/*.yml``) are loaded by ``bankcare care load`` with the campaigns.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from core.settings import Settings

# How ``surveys plan`` names each decision (staff read this, not the codes).
DECISIONS_ZH = {
    "planned": "将发送",
    "deferred": "免打扰时段，推迟发送",
    "quiet_hours": "免打扰时段，推迟发送",
    "already_planned": "已在计划中",
    "recently_surveyed": "近期已调查过，本次不打扰",
    "opted_out": "客户已退订，不发送",
    "no_channel": "没有可用渠道，不发送",
}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``surveys`` and its subcommands to the ``bankcare`` CLI."""
    surveys = subparsers.add_parser("surveys", help="满意度调查：结果报告、邀请计划 (satisfaction surveys)")
    sub = surveys.add_subparsers(dest="surveys_command", metavar="子命令", required=True)

    report = sub.add_parser("report", help="调查结果：NPS、满意度（含95%置信区间）、回复率、意见分类、回访")
    report.add_argument("survey", help="调查代码，如 quarterly_nps")
    report.add_argument("--by", choices=("branch", "rm", "segment", "channel", "period"), help="分组方式")
    report.add_argument("--since", help="邀请日期起 YYYY-MM-DD")
    report.add_argument("--until", help="邀请日期止 YYYY-MM-DD")
    report.add_argument("--json", action="store_true", help="输出 JSON")
    report.add_argument("--png", type=Path, help="同时输出柱状图 PNG")
    report.set_defaults(func=cmd_report)

    plan = sub.add_parser("plan", help="计划某天的调查邀请（与调度器每天做的相同）")
    plan.add_argument("--date", help="日期 YYYY-MM-DD（默认今天，北京时间）")
    plan.add_argument("--dry-run", action="store_true", help="只预览，不写入")
    plan.set_defaults(func=cmd_plan)


def _factory():  # type: ignore[no-untyped-def]
    from core.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(Settings.from_env().database_url))


def load_surveys(directory: Path | None = None) -> int:
    """Load ``care/surveys/*.yml`` (or ``directory``) into the database; 1 on a broken definition."""
    from care.definitions import DefinitionError
    from care.survey_defs import SURVEY_DIR, load_into_db, read_files
    from core.db import session_scope

    try:
        definitions = read_files(directory or SURVEY_DIR)
    except DefinitionError as exc:
        print(f"调查定义有误：{exc}", file=sys.stderr)
        return 1
    with session_scope(_factory()) as session:
        created, updated = load_into_db(session, definitions)
    print(f"已加载 {len(definitions)} 个满意度调查（新增 {created}，更新 {updated}）")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from care.survey_report import UnknownSurvey, build, chart_png, text_lines
    from core.db import session_scope

    since = dt.date.fromisoformat(args.since) if args.since else None
    until = dt.date.fromisoformat(args.until) if args.until else None
    with session_scope(_factory()) as session:
        try:
            report = build(session, args.survey, args.by, since=since, until=until)
        except UnknownSurvey:
            print(f"没有这个调查：{args.survey}（先运行 bankcare care load）", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(text_lines(report)))
    if args.png:
        args.png.write_bytes(chart_png(report))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from care.compliance import TZ
    from care.survey_planner import plan_surveys
    from core.db import session_scope

    day = dt.date.fromisoformat(args.date) if args.date else dt.datetime.now(TZ).date()
    with session_scope(_factory()) as session:
        plan = plan_surveys(session, day, dry_run=args.dry_run)
        if args.dry_run:
            session.rollback()
    print(f"{day.isoformat()} 调查邀请{'预览' if args.dry_run else ''}：新写入 {plan.inserted} 条")
    for (code, status), n in sorted(plan.counts.items()):
        print(f"  {code:<24} {DECISIONS_ZH.get(str(status), str(status))}：{n}")
    return 0
