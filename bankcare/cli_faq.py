"""``bankcare faq import|export|ask|eval|calibrate``: the FAQ knowledge base from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``faq`` command group to the top-level ``bankcare`` parser."""
    faq = subparsers.add_parser("faq", help="FAQ 知识库：导入、导出、提问、评测")
    sub = faq.add_subparsers(dest="faq_command", required=True)
    p = sub.add_parser("import", help="导入 TSV/CSV/XLSX 知识库文件（全部成功或全部不写入）")
    p.add_argument("file")
    p.add_argument("--replace", action="store_true", help="停用文件中没有的知识点")
    p.set_defaults(func=cmd_import)
    p = sub.add_parser("export", help="导出知识库（标准问题/相似问题/答案/分类）")
    p.add_argument("--out", help="输出文件 .tsv/.csv/.xlsx；缺省输出到标准输出")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("ask", help="打印最匹配的 3 个知识点（JSON）")
    p.add_argument("question")
    p.set_defaults(func=cmd_ask)
    p = sub.add_parser("eval", help="按“问题<TAB>期望答案”文件评测 top1/top3")
    p.add_argument("file")
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("calibrate", help="用交叉验证重新计算置信度阈值")
    p.set_defaults(func=cmd_calibrate)


def _factory():  # type: ignore[no-untyped-def]
    from core.db import make_engine, make_sessionmaker
    from core.settings import Settings

    url = Settings.from_env().database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return make_sessionmaker(make_engine(url))


def cmd_import(args: argparse.Namespace) -> int:
    from crm.knowledge import UpsertResult
    from faq.calibrate import Thresholds
    from faq.io import FaqImportError, phrasing_advice, read_knowledge_file
    from faq.service import import_knowledge

    try:
        drafts = read_knowledge_file(args.file)
    except FaqImportError as exc:
        print(str(exc), file=sys.stderr)
        return 2

    def live(result: UpsertResult, thresholds: Thresholds, pending: int) -> None:
        print(
            f"导入完成：新增 {result.created}，更新 {result.updated}，未变 {result.unchanged}，"
            f"停用 {result.deactivated}；阈值 high={thresholds.high:.3f} low={thresholds.low:.3f}",
            flush=True,
        )
        if pending:
            seconds = max(1, round(pending * 0.009))  # ~8 ms per question on 2 cores, and storing it
            print(
                f"知识库已生效（先按字词匹配）。正在为 {pending} 个新问题计算句向量（约 {seconds} 秒），"
                "完成后自动切换并重新校准；中途停止不影响已导入的内容。",
                flush=True,
            )

    def progress(done: int, total: int) -> None:
        print(f"句向量 {done}/{total}", flush=True)

    outcome = import_knowledge(_factory(), drafts, args.replace, live, progress)
    if outcome.lexical_first is not None:
        t = outcome.thresholds
        print(f"句向量完成，已重新校准：阈值 high={t.high:.3f} low={t.low:.3f}")
    if outcome.pruned:
        print(f"已清理 {outcome.pruned} 条不再用到的句向量（改过或删掉的问题）。")
    advice = phrasing_advice(drafts)
    if advice:
        print(advice)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from crm.knowledge import export_points
    from faq.io import write_knowledge

    with session_scope(_factory()) as session:
        points = export_points(session)
    if args.out:
        write_knowledge(points, Path(args.out))
    else:
        write_knowledge(points, sys.stdout)  # type: ignore[arg-type]
    return 0


def _service():  # type: ignore[no-untyped-def]
    from faq.service import FaqService

    return FaqService(_factory(), background_reload=False)


def cmd_ask(args: argparse.Namespace) -> int:
    service = _service()
    decision = service.decide(args.question, k=3)
    out = {
        "decision": decision.kind,
        "thresholds": {"high": decision.thresholds.high, "low": decision.thresholds.low},
        "matches": [
            {"id": m.point_id, "question": m.standard_question, "score": m.score, "answer": m.answer}
            for m in decision.matches
        ],
    }
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    service = _service()
    n = top1 = top3 = 0
    for raw in Path(args.file).read_text(encoding="utf-8-sig").splitlines():
        if not raw.strip() or "\t" not in raw:
            continue
        question, expected = (s.strip() for s in raw.split("\t", 1))
        matches = service.ask(question, k=3)
        n += 1
        answers = [m.answer.strip() for m in matches]
        if answers and answers[0] == expected:
            top1 += 1
        else:
            got = matches[0].standard_question if matches else "(无)"
            print(f"MISS\t{question}\t→ {got}\t{matches[0].score if matches else 0:.3f}")
        if expected in answers:
            top3 += 1
    d = max(n, 1)
    print(f"top1={top1 / d:.3f} top3={top3 / d:.3f} n={n}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from core.db import session_scope
    from faq.service import calibrate_and_store

    with session_scope(_factory()) as session:
        t = calibrate_and_store(session)
    print(json.dumps(t.to_json(), ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m bankcare.cli_faq faq ask ...``) until cli.py wires it in."""
    parser = argparse.ArgumentParser(prog="bankcare")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
