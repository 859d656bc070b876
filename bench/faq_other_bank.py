"""FAQ on another bank's knowledge base (``python -m bench.faq_other_bank`` / ``make bench-faq-other``).

The matcher was tuned on this repo's demo KB; a bank that adopts it imports its own FAQ. This
bench does what that bank's IT staff would do: ``bankcare migrate`` and ``bankcare faq import``
(the real CLI, in a subprocess, on a fresh SQLite database) with ``bench/data/other_bank_kb.csv``,
a different 农商行's FAQ as its website would publish it (序号/业务类别/问题/相似问法/答案, similar
questions separated by "；"). Then the customers' questions of ``bench/data/other_bank_questions.tsv``
(written without looking at the matcher: colloquial, typos, voice input, dialect; 60 of them the
KB cannot answer, labelled ``none``) are put to :class:`faq.service.FaqService` as the bot does.

Reported: top-1 / top-3 on the answerable questions; what the bot does with them (answers right,
answers with the wrong entry, offers choices, says it is unsure); for the ``none`` questions how
often it answers anyway (wrong by construction) or offers choices. The
``## FAQ on another bank's KB (make bench-faq-other)`` section of BENCHMARKS.md is rewritten.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.report import replace_section
from core.db import make_engine, make_sessionmaker
from faq.service import FaqService

ROOT = Path(__file__).resolve().parent.parent
KB = ROOT / "bench" / "data" / "other_bank_kb.csv"
QUESTIONS = ROOT / "bench" / "data" / "other_bank_questions.tsv"
SECTION = "## FAQ on another bank's KB (make bench-faq-other)"
BANKCARE = [sys.executable, "-m", "bankcare.cli"]


def load_questions(path: Path = QUESTIONS) -> list[tuple[str, str]]:
    """(question, expected standard question or ``none``) pairs."""
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [(r[0], r[1]) for r in rows[1:] if len(r) >= 2 and r[0].strip()]


def cli_import(db_url: str, kb: Path = KB) -> str:
    """``bankcare migrate`` + ``bankcare faq import`` on ``db_url``; the import's output."""
    env = {**os.environ, "DATABASE_URL": db_url}
    subprocess.run([*BANKCARE, "migrate"], env=env, check=True, capture_output=True, cwd=ROOT)
    done = subprocess.run([*BANKCARE, "faq", "import", str(kb)], env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"bankcare faq import failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip()


def evaluate(service: FaqService, pairs: list[tuple[str, str]]) -> dict[str, float]:
    """The bot's behaviour on answerable and ``none`` questions (rates over each group)."""
    c: Counter[str] = Counter()
    misses: list[str] = []
    for question, expected in pairs:
        d = service.decide(question, k=3)  # its matches: what the customer is shown
        offered = [m.standard_question for m in d.matches]
        tops = [m.standard_question for m in service.ask(question, k=3)]
        if expected == "none":
            c["none"] += 1
            c[f"none_{d.kind}"] += 1
            if d.kind == "answer":
                misses.append(f"NONE-ANSWERED\t{question}\t→ {tops[0]}\t{d.matches[0].score:.3f}")
            continue
        c["ans"] += 1
        hit1 = bool(tops) and tops[0] == expected
        c["top1"] += hit1
        c["top3"] += expected in tops
        if d.kind == "answer":
            c["answer_right" if hit1 else "answer_wrong"] += 1
            if not hit1:
                misses.append(f"WRONG\t{question}\t→ {tops[0]}\t{d.matches[0].score:.3f}")
        elif d.kind == "choose":
            c["choose_hit" if expected in offered else "choose_miss"] += 1
            c["buttons"] += len(offered)
            c["choose"] += 1
        else:
            c["unsure"] += 1
            if hit1:
                c["unsure_right"] += 1
    if os.environ.get("BENCH_VERBOSE"):
        print("\n".join(misses))
    a, n = max(c["ans"], 1), max(c["none"], 1)
    return {
        "n_ans": c["ans"],
        "n_none": c["none"],
        "top1": c["top1"] / a,
        "top3": c["top3"] / a,
        "answer_right": c["answer_right"] / a,
        "answer_wrong": c["answer_wrong"] / a,
        "choose_hit": c["choose_hit"] / a,
        "choose_miss": c["choose_miss"] / a,
        "unsure": c["unsure"] / a,
        "unsure_right": c["unsure_right"] / a,
        "none_answer": c["none_answer"] / n,
        "none_choose": c["none_choose"] / n,
        "none_unsure": c["none_unsure"] / n,
        "n_buttons": c["buttons"] / max(c["choose"], 1),
    }


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/other_bank.db"
        log = cli_import(url)
        engine = make_engine(url)
        service = FaqService(make_sessionmaker(engine), check_interval=3600, background_reload=False)
        service.refresh(force=True)
        r = evaluate(service, load_questions())
        t = service.decide("你好").thresholds
        engine.dispose()
    print(log)
    pct = {k: f"{100 * v:.1f} %" for k, v in r.items() if not k.startswith("n_")}
    return "\n".join(
        [
            SECTION,
            "",
            "Command: `make bench-faq-other` (`python -m bench.faq_other_bank`). Another 农商行's FAQ "
            "(`bench/data/other_bank_kb.csv`: 92 answers, formal website wording, as the bank's CSV) imported with "
            "`bankcare faq import` into a fresh SQLite database; customers' questions written without looking at the "
            "matcher (`bench/data/other_bank_questions.tsv`).",
            "",
            f"Calibrated thresholds after import: high={t.high:.3f} low={t.low:.3f}.",
            "",
            "| metric | result |",
            "|---|---|",
            f"| answerable questions (n={r['n_ans']:.0f}): top-1 | {pct['top1']} |",
            f"| answerable: top-3 | {pct['top3']} |",
            f"| answerable: answered, right entry | {pct['answer_right']} |",
            f"| answerable: answered with a WRONG entry | {pct['answer_wrong']} |",
            f"| answerable: offered choices, right one among them | {pct['choose_hit']} |",
            f"| answerable: offered choices, right one missing | {pct['choose_miss']} |",
            f"| answerable: offered choices, mean number of choices | {r['n_buttons']:.2f} |",
            f"| answerable: said unsure (offers a human) | {pct['unsure']} |",
            f"| answerable: said unsure although the best match was right | {pct['unsure_right']} |",
            f"| questions the KB cannot answer (n={r['n_none']:.0f}): answered anyway (wrong) | {pct['none_answer']} |",
            f"| cannot answer: offered choices | {pct['none_choose']} |",
            f"| cannot answer: said unsure (right) | {pct['none_unsure']} |",
            "",
            "History (same files). First run, before any fix: the importer took the bank's CSV but kept each "
            "“相似问法” cell (variants joined by “；”) as ONE question, so every point had 2 phrasings; thresholds "
            "high=0.499 low=0.231; top-1 89.1 %, top-3 98.8 %; answered right 27.6 %, wrong 0.9 %, choices 14.6 % "
            "(3 buttons each), unsure 56.8 %; cannot-answer questions answered 1.7 %, unsure 98.3 %. With the "
            "variants split (commit 0b964b2) top-1 87.9 %, top-3 96.9 %, unsure 56.8 % → 20.2 %, choices 14.6 % → "
            "54.3 %. Then choices limited to candidates scoring at least `low` (46b5b27): 3 → 1.45 buttons, the right "
            "one still among them 53.7 % vs 54.3 %. What is left: calibration learns from the KB's own formal wording; "
            "its held-out phrasings score far higher than customers' (cross-validation answers 62 % of in-KB "
            "phrasings directly at high=0.656, customers get 24 %), and its out-of-KB stand-ins (removed points' "
            "questions) score far higher than real unanswerable questions (45 % ≥ 0.2 vs 5 %), so the bot offers "
            "choices where it could answer. `bankcare faq import` now says so when most points have < 5 phrasings.",
        ]
    )


def main() -> None:
    text = run()
    print(text)
    replace_section(text)


if __name__ == "__main__":
    main()
