"""`bankcare`: the one command-line tool (中文帮助). Subcommands live in bankcare/cli_*.py."""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import sys
from collections.abc import Sequence

from core.settings import ConfigError, Settings

# Each module exposes register(subparsers); the order is the order in `bankcare --help`.
SUBCOMMAND_MODULES = (
    "bankcare.cli_faq",
    "bankcare.cli_segments",
    "bankcare.cli_care",
    "bankcare.cli_surveys",
    "bankcare.cli_wechat",
    "bankcare.cli_sms",
    "bankcare.cli_config",
    "bankcare.cli_console",
    "bankcare.cli_retention",
    "bankcare.cli_insights",
)


def _cmd_demo_seed(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.db import make_engine
    from crm.demo.seed import AlreadySeeded, seed_demo_bank
    from crm.migrate import upgrade

    settings = Settings.from_env()
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
    with tqdm(total=args.customers, unit="户", desc="生成演示客户", disable=args.quiet) as bar:
        try:
            report = seed_demo_bank(engine, customers=args.customers, seed=args.seed, as_of=as_of,
                                    progress=bar.update)
        except AlreadySeeded as exc:
            if args.if_empty:
                print("演示数据已存在，跳过。(demo bank already present, skipped)")
                return 0
            print(f"错误：{exc}", file=sys.stderr)
            return 1
    print(
        f"完成：客户 {report.customers:,} 户，账户 {report.accounts:,} 个，交易 {report.transactions:,} 笔，"
        f"定期 {report.deposits:,} 笔，贷款 {report.loans:,} 笔，用时 {report.seconds:.1f} 秒"
    )
    return 0


def _cmd_migrate(_args: argparse.Namespace) -> int:
    from crm.migrate import upgrade

    upgrade(Settings.from_env().database_url)
    print("数据库已升级到最新版本。(database migrated to head)")
    return 0


def _cmd_sms_inbox(args: argparse.Namespace) -> int:
    from core.db import make_engine, make_sessionmaker, session_scope
    from crm.sms import sandbox_inbox

    settings = Settings.from_env()
    if settings.sms_backend != "sandbox":
        print("只有短信沙箱可以查看 (only the SMS sandbox can be read)", file=sys.stderr)
        return 1
    with session_scope(make_sessionmaker(make_engine(settings.database_url))) as session:
        print(json.dumps(sandbox_inbox(session, args.phone), ensure_ascii=False, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bankcare", description="农商行智能客服与客户关怀助手 — 命令行工具 (bankcare command-line tool)"
    )
    sub = parser.add_subparsers(dest="command", metavar="命令", required=True)

    demo = sub.add_parser("demo", help="演示银行数据 (demo bank)")
    demo_sub = demo.add_subparsers(dest="demo_command", metavar="子命令", required=True)
    seed = demo_sub.add_parser("seed", help="生成演示银行：客户、账户、交易、定期、贷款 (seed the demo bank)")
    seed.add_argument("--customers", type=int, default=2000, help="客户数量，默认 2000")
    seed.add_argument("--seed", type=int, default=20261130, help="随机种子：同一种子生成同样的数据")
    seed.add_argument("--as-of", help="以哪天为“今天”生成一年的流水 (YYYY-MM-DD)，默认今天")
    seed.add_argument("--if-empty", action="store_true", help="数据库已有客户时跳过而不报错")
    seed.add_argument("--quiet", action="store_true", help="不显示进度条")
    seed.set_defaults(func=_cmd_demo_seed)

    migrate = sub.add_parser("migrate", help="把数据库升级到最新结构 (run Alembic migrations)")
    migrate.set_defaults(func=_cmd_migrate)

    sms = sub.add_parser("sms-inbox", help="查看短信沙箱收到的验证码（仅开发环境）(read the SMS sandbox)")
    sms.add_argument("phone", help="手机号")
    sms.set_defaults(func=_cmd_sms_inbox)

    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"配置错误：{exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
