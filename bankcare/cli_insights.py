"""``bankcare insights …`` and ``bankcare nlu …``: the voice of the customer from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``insights`` and ``nlu`` command groups."""
    ins = subparsers.add_parser("insights", help="客户之声：知识盲区、趋势、商机线索")
    sub = ins.add_subparsers(dest="insights_command", required=True)
    p = sub.add_parser("gaps", help="未答问题聚类成主题，按数量从多到少")
    p.add_argument("--days", type=int, default=7, help="统计最近多少天，默认 7")
    p.add_argument("--json", action="store_true", help="输出 JSON 数组")
    p.add_argument("--lexical", action="store_true", help="只用词语特征，不用句向量")
    p.set_defaults(func=cmd_gaps)
    p = sub.add_parser("resolve", help="把一个主题变成知识点（立即生效，无需重新训练）")
    p.add_argument("id", type=int)
    p.add_argument("--answer", required=True, help="答案（工作人员撰写）")
    p.add_argument("--question", help="标准问题，缺省用主题的建议问题")
    p.add_argument("--by", default="cli", help="操作人")
    p.set_defaults(func=cmd_resolve)
    p = sub.add_parser("trends", help="主题与意图的量、转人工与投诉原因、情绪、突增提醒")
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_trends)
    p = sub.add_parser("leads", help="聊天中发现的产品意向（商机线索）")
    p.add_argument("--rm", type=int, help="只看这位客户经理的")
    p.add_argument("--status", choices=["open", "won", "lost", "not_interested"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_leads)
    p = sub.add_parser("lead-outcome", help="记录线索结果")
    p.add_argument("id", type=int)
    p.add_argument("status", choices=["won", "lost", "not_interested"])
    p.add_argument("--by", default="cli")
    p.add_argument("--note")
    p.set_defaults(func=cmd_lead_outcome)

    nlu = subparsers.add_parser("nlu", help="意图复核与导出训练数据")
    nsub = nlu.add_subparsers(dest="nlu_command", required=True)
    p = nsub.add_parser("review", help="列出待复核的说法；或 --id N --intent X / --out-of-scope 复核一条")
    p.add_argument("--id", type=int)
    p.add_argument("--intent")
    p.add_argument("--out-of-scope", action="store_true")
    p.add_argument("--by", default="cli")
    p.set_defaults(func=cmd_review)
    p = nsub.add_parser("export-reviewed", help="把复核过的说法写成 Rasa NLU YAML（nlu_data/reviewed/）")
    p.add_argument("--dir", help="输出目录，默认 nlu_data/reviewed")
    p.set_defaults(func=cmd_export_reviewed)


def _factory():  # type: ignore[no-untyped-def]
    from core.db import make_engine, make_sessionmaker
    from core.settings import Settings

    return make_sessionmaker(make_engine(Settings.from_env().database_url))


def _print(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def cmd_gaps(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from insights.harvest import harvest
    from insights.topics import build_topics
    from insights.trends import detect_spikes

    with session_scope(_factory()) as session:
        harvest(session)
        kwargs: dict[str, Any] = {"encoder": None} if args.lexical else {}
        topics = build_topics(session, days=args.days, **kwargs)
        detect_spikes(session)
        data = [t.as_dict() for t in topics]
    if args.json:
        _print(data)
        return 0
    if not data:
        print(f"最近 {args.days} 天没有未答问题。")
    for t in data:
        print(f"[{t['id']}] {t['suggested_question']}  共 {t['size']} 条（上期 {t['previous_size']}，{t['trend']}）")
        for example in t["examples"][:3]:
            print(f"      · {example}")
        if t["draft_answer"]:
            print(f"      客户经理答过：{t['draft_answer'][:60]}")
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from insights.resolve import ResolveError, resolve

    try:
        done = resolve(_factory(), args.id, args.answer, args.by, standard_question=args.question)
    except ResolveError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    print(f"已建立知识点 {done.point_id}：“{done.standard_question}”，相似问题 {done.similar_questions} 条；"
          f"主题 {done.cluster_id} 已标记为已处理，问答服务几秒内自动加载。")
    return 0


def cmd_trends(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from insights.harvest import harvest
    from insights.trends import build_trends, detect_spikes

    with session_scope(_factory()) as session:
        harvest(session)
        spikes = detect_spikes(session)
        data = build_trends(session, days=args.days).as_dict()
        data["spikes"] = [s.__dict__ for s in spikes]
    if args.json:
        _print(data)
        return 0
    print(f"最近 {args.days} 天")
    print("转人工原因：" + ("，".join(f"{k} {v}" for k, v in data["handoff_reasons"].items()) or "无"))
    print("投诉原因：" + ("，".join(f"{k} {v}" for k, v in data["complaint_reasons"].items()) or "无"))
    print("未答问题主题：")
    for topic, by_day in sorted(data["topics_by_day"].items(), key=lambda kv: -sum(kv[1].values()))[:10]:
        print(f"  {topic}：共 {sum(by_day.values())} 条")
    for s in spikes:
        print(f"突增提醒：{s.branch} “{s.topic}” 今天 {s.count} 条，平时每天约 {s.usual:.1f} 条")
    return 0


def cmd_leads(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from crm.access.insights import leads
    from insights.harvest import harvest
    from insights.leads import PRODUCT_NAMES

    with session_scope(_factory()) as session:
        harvest(session)
        rows: list[dict[str, Any]] = [
            {"id": x.id, "customer_id": x.customer_id, "rm_id": x.rm_id, "product": x.product,
             "product_name": PRODUCT_NAMES.get(x.product, x.product), "trigger_words": x.trigger_words,
             "text": x.text, "status": x.status, "created_at": x.created_at.isoformat()}
            for x in leads(session, rm_id=args.rm, status=args.status)
        ]  # fmt: skip
    if args.json:
        _print(rows)
        return 0
    statuses = {"open": "待跟进", "won": "已成交", "lost": "未成交", "not_interested": "无意向"}
    for r in rows:
        print(f"[{r['id']}] {r['product_name']}｜客户 {r['customer_id'] or '未绑定'}｜{statuses[r['status']]}｜"
              f"触发词：{r['trigger_words']}｜{r['text'][:40]}")
    if not rows:
        print("暂无线索。")
    return 0


def cmd_lead_outcome(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from crm.access.insights import UnknownLead, set_lead_outcome

    try:
        with session_scope(_factory()) as session:
            set_lead_outcome(session, args.id, args.status, args.by, args.note)
    except UnknownLead:
        print(f"错误：没有编号为 {args.id} 的线索。", file=sys.stderr)
        return 1
    print("已记录。")
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from crm.access.insights import pending_reviews, review

    with session_scope(_factory()) as session:
        if args.id is not None:
            if not args.intent and not args.out_of_scope:
                print("错误：请给出 --intent 或 --out-of-scope。", file=sys.stderr)
                return 2
            try:
                review(session, args.id, None if args.out_of_scope else args.intent, args.by)
            except LookupError:
                print(f"错误：没有编号为 {args.id} 的说法。", file=sys.stderr)
                return 1
            print("已复核。")
            return 0
        for q in pending_reviews(session):
            confidence = f"{q.confidence:.2f}" if q.confidence is not None else "—"
            print(f"[{q.id}] {q.text}｜识别为 {q.intent or '未识别'}（置信度 {confidence}）")
    return 0


def cmd_export_reviewed(args: argparse.Namespace) -> int:
    from pathlib import Path

    from core.db import session_scope
    from insights.nlu_export import REVIEWED_DIR, export_reviewed

    with session_scope(_factory()) as session:
        path, count = export_reviewed(session, Path(args.dir) if args.dir else REVIEWED_DIR)
    print(f"已导出 {count} 条复核过的说法到 {path}，下次训练时生效。")
    return 0
