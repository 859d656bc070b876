"""Voice-of-the-customer benchmark (``python -m bench.insights`` / ``make bench-insights``).

* **Labelled bank questions**: the demo knowledge base (real paraphrases grouped per answer) plus
  the separately written held-out file ``bench/data/faq_heldout.tsv``, labelled by answer: about
  4,000 questions on 163 answers, many of them close neighbours (补卡材料 / 补卡费用). Clustered
  as the pool would be, with and without sentence vectors; purity (each cluster's share of its
  most common answer), inverse purity (each answer's share in its largest cluster) and the number
  of clusters are reported, since purity alone is 1.0 for singletons.
* **100,000 pooled questions**: the labelled questions with random customer-style noise (fillers,
  particles, synonym swaps, dropped and swapped characters, as in ``bench.faq``), clustered on the
  large path (lexical); the issue's bound is 60 s on 2 cores.

Then the ``## Insights (make bench-insights)`` section of BENCHMARKS.md is rewritten.
"""

from __future__ import annotations

import csv
import os
import random
import time
from pathlib import Path

import numpy as np

from bench.faq import paraphrase
from bench.report import replace_section as write_section
from faq.semantic import default_encoder, sentence_text
from faq.text import load_synonyms
from insights.clustering import cluster_texts, purity

ROOT = Path(__file__).resolve().parent.parent
KB = ROOT / "nlu_data" / "faq" / "knowledge_base.tsv"
HELDOUT = ROOT / "bench" / "data" / "faq_heldout.tsv"
SECTION = "## Insights (make bench-insights)"
POOL_SIZE = 100_000
LIMIT_S = 60.0


def labelled_questions() -> tuple[list[str], list[str]]:
    """Real bank questions labelled by the answer they belong to."""
    texts: list[str] = []
    labels: list[str] = []
    answers: dict[str, str] = {}
    with KB.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            label = answers.setdefault(row["answer"], f"a{len(answers)}")
            for q in [row["standard_question"], *row["similar_questions"].split("|")]:
                if q.strip():
                    texts.append(q.strip())
                    labels.append(label)
    with HELDOUT.open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[1] in answers:
                texts.append(parts[0])
                labels.append(answers[parts[1]])
    return texts, labels


def noisy_pool(texts: list[str], labels: list[str], size: int, seed: int = 23) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    swaps = [(c, v) for v, c in load_synonyms()]
    out_t: list[str] = []
    out_l: list[str] = []
    for _ in range(size):
        i = rng.randrange(len(texts))
        out_t.append(paraphrase(texts[i], rng, swaps) if rng.random() < 0.8 else texts[i])
        out_l.append(labels[i])
    return out_t, out_l


def inverse_purity(cluster_labels: np.ndarray, truth: list[str]) -> float:
    return purity([hash(t) for t in truth], [str(c) for c in cluster_labels.tolist()])


def measure(name: str, texts: list[str], truth: list[str], encoder: object) -> str:
    started = time.perf_counter()
    result = cluster_texts(texts, encoder=encoder)
    seconds = time.perf_counter() - started
    p, ip = purity(result.labels, truth), inverse_purity(result.labels, truth)
    print(f"{name}: {len(texts):,} questions, {len(set(truth))} answers -> {result.count:,} clusters, "
          f"purity {p:.3f}, inverse purity {ip:.3f}, {seconds:.1f} s ({result.method})", flush=True)
    return (f"| {name} | {len(texts):,} | {len(set(truth))} | {result.method} | {result.count:,} | {p:.3f} "
            f"| {ip:.3f} | {seconds:.1f} s |")


def main() -> None:
    texts, labels = labelled_questions()
    rows = [measure("labelled bank questions, lexical", texts, labels, None)]
    encoder = default_encoder()
    if encoder is not None:
        # KB questions' vectors are on this host's disk cache (bench-faq); the rest is embedded.
        encoder.load_from_disk([sentence_text(t) for t in texts])
        rows.append(measure("labelled bank questions, + sentence vectors", texts, labels, encoder))
    pool, pool_labels = noisy_pool(texts, labels, POOL_SIZE)
    big = measure("100,000 pooled questions (noisy paraphrases)", pool, pool_labels, None)
    rows.append(big)
    seconds = float(big.rsplit("|", 2)[-2].strip().removesuffix(" s"))
    verdict = "within" if seconds <= LIMIT_S else "OVER"
    body = "\n".join([
        SECTION,
        "",
        "Clustering of unanswered questions (`insights/clustering.py`). Labels: the answer each question "
        "belongs to in the demo KB (real paraphrases per answer) plus `bench/data/faq_heldout.tsv`. The KB's "
        "163 answers are close neighbours in one bank's domain, so this is a hard set: real gap topics are "
        "usually further apart. Purity alone would be 1.0 for singletons, hence inverse purity and the "
        "number of clusters beside it.",
        "",
        "| set | questions | answers | method | clusters | purity | inverse purity | time |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"100,000 pooled questions clustered in {seconds:.1f} s: {verdict} the 60 s bound on 2 cores "
        f"(1-min load average at the end: {os.getloadavg()[0]:.1f}, the cores shared with other work). The "
        "time with sentence vectors includes embedding the questions not yet cached (customers' texts are "
        "never written to the disk cache); the pool uses vectors up to 5,000 distinct questions.",
    ])  # fmt: skip
    write_section(body)


if __name__ == "__main__":
    main()
