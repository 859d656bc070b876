"""``bankcare segments rebuild|show``: customer segments with a progress bar, stored by version."""

from __future__ import annotations

import argparse
import datetime as dt
from decimal import Decimal

from core.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``segments`` and its subcommands to the ``bankcare`` CLI."""
    seg = subparsers.add_parser(
        "segments", help="客户分群：价值分层、生命周期、RFM、聚类、流失预测、产品关联"
    )
    sub = seg.add_subparsers(dest="segments_command", metavar="子命令", required=True)
    rebuild = sub.add_parser("rebuild", help="重新计算所有分群，保存为新版本")
    rebuild.add_argument("--as-of", help="按哪天计算 (YYYY-MM-DD)，默认今天（北京时间）")
    rebuild.add_argument("--clusters", type=int, default=4, help="k-means 聚类数，默认 4")
    rebuild.add_argument("--potential", type=Decimal, default=Decimal("50000"), help="潜力客户资产门槛（元）")
    rebuild.add_argument("--vip", type=Decimal, default=Decimal("500000"), help="贵宾客户资产门槛（元）")
    rebuild.add_argument("--private", type=Decimal, default=Decimal("6000000"), help="私行客户资产门槛（元）")
    rebuild.add_argument("--quiet", action="store_true", help="不显示进度条")
    rebuild.set_defaults(func=cmd_rebuild)


def cmd_rebuild(args: argparse.Namespace) -> int:
    from care.compliance import TZ
    from care.segmentation import rebuild
    from core.db import make_engine, make_sessionmaker, session_scope
    from crm.segments import Thresholds

    as_of = dt.date.fromisoformat(args.as_of) if args.as_of else dt.datetime.now(TZ).date()
    thresholds = Thresholds(potential=args.potential, vip=args.vip, private=args.private)
    factory = make_sessionmaker(make_engine(Settings.from_env().database_url))
    with session_scope(factory) as session:
        version = rebuild(session, as_of, thresholds=thresholds, k=args.clusters, progress=not args.quiet)
        metrics, number, customers = version.metrics, version.version, version.customers
    print(f"分群版本 {number}：{customers:,} 位客户，按 {as_of.isoformat()} 计算")
    for dim, label in (("tier", "价值分层"), ("lifecycle", "生命周期"), ("churn", "流失风险")):
        counts = metrics["counts"].get(dim, {})
        print(
            f"  {label}：" + "，".join(f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda x: -x[1]))
        )
    auc = metrics.get("churn_auc")
    print(
        f"  流失模型 AUC：{auc:.3f}（留出 30% 验证）"
        if auc is not None
        else "  流失模型：历史数据不足，未训练"
    )
    for c in metrics["clusters"]:
        print(f"  聚类 {c['id']}：{c['profile']}")
    for r in metrics["rules"][:5]:
        print(
            f"  关联：持有{r['antecedent']}→也持有{r['consequent']}  支持度 {r['support']:.1%}，"
            f"置信度 {r['confidence']:.1%}，提升度 {r['lift']:.2f}"
        )
    return 0
