"""NLU benchmark: train, evaluate on the held-out set, measure parse latency (``python -m bench.nlu``).

Runs under the app venv and drives the Rasa venv through its CLI, because Rasa 3.6 lives in its
own Python 3.10 environment:

1. ``rasa train nlu`` on ``nlu_data/`` with ``config.yml`` (timed);
2. ``rasa test nlu --nlu tests/nlu/test.yml`` on that model (the held-out set is never trained on);
3. ``rasa run --enable-api`` on a free port, then ``POST /model/parse`` for every test sentence
   (p50 / p99 after a warm-up);
4. prints the results and replaces the ``## NLU (make bench-nlu)`` section of BENCHMARKS.md.

Everything it writes besides BENCHMARKS.md goes under ``var/bench-nlu/`` (gitignored).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from bench.report import replace_section as write_section

SECTION = "## NLU (make bench-nlu)"
ROOT = Path(__file__).resolve().parent.parent
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
TEST_FILE = ROOT / "tests" / "nlu" / "test.yml"
WORK = ROOT / "var" / "bench-nlu"
ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\]\([^)]+\)")
TARGETS = {"macro_f1": 0.95, "entity_f1": 0.90, "p50_ms": 30.0, "p99_ms": 80.0}
# Rasa must not phone home or look for a GPU; the machine has no internet anyway.
RASA_ENV = {"RASA_TELEMETRY_ENABLED": "false", "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2"}


@dataclass
class Results:
    """Everything the report needs."""

    train_seconds: float = 0.0
    train_cpu_seconds: float = 0.0
    load_average: float = 0.0
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    macro_f1: float = 0.0
    accuracy: float = 0.0
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)
    entity_f1: float = 0.0
    confused: list[tuple[str, str, int]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    n_test: int = 0


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _rasa(args: list[str], log: Path) -> tuple[float, float]:
    """Run a Rasa CLI command from the repo root, logging to ``log``.

    Returns:
        (wall seconds, CPU seconds). CPU time is reported too because the cores are shared
        with other jobs, which inflates wall time but not CPU time.
    """
    env = {**os.environ, **RASA_ENV}
    start, cpu_start = time.perf_counter(), _cpu_children()
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.run([str(RASA), *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        sys.exit(f"rasa {args[0]} {args[1] if len(args) > 1 else ''} failed, see {log}")
    return time.perf_counter() - start, _cpu_children() - cpu_start


def train(model_dir: Path) -> tuple[float, float]:
    """Train the NLU model into ``model_dir/nlu.tar.gz``; return (wall, CPU) seconds."""
    return _rasa(
        ["train", "nlu", "--nlu", "nlu_data", "--config", "config.yml", "--domain", "bot/domain/nlu.yml",
         "--out", str(model_dir), "--fixed-model-name", "nlu"],
        WORK / "train.log",
    )  # fmt: skip


def evaluate(model: Path, results_dir: Path) -> None:
    """Run ``rasa test nlu`` on the held-out set; reports land in ``results_dir``."""
    _rasa(
        ["test", "nlu", "--nlu", str(TEST_FILE), "--model", str(model), "--out", str(results_dir),
         "--no-plot"],
        WORK / "test.log",
    )  # fmt: skip


def read_reports(results_dir: Path, res: Results) -> None:
    """Fill intent and entity metrics from Rasa's JSON reports."""
    report = json.loads((results_dir / "intent_report.json").read_text(encoding="utf-8"))
    summary = {"accuracy", "macro avg", "weighted avg", "micro avg"}
    res.intents = {k: v for k, v in report.items() if k not in summary and isinstance(v, dict)}
    res.macro_f1 = float(report["macro avg"]["f1-score"])
    res.accuracy = float(report.get("accuracy", report.get("micro avg", {}).get("f1-score", 0.0)))
    pairs = [
        (gold, predicted, int(n))
        for gold, row in res.intents.items()
        for predicted, n in (row.get("confused_with") or {}).items()
    ]
    res.confused = sorted(pairs, key=lambda p: -p[2])[:8]

    entity_reports = sorted(results_dir.glob("*Classifier_report.json")) + sorted(
        results_dir.glob("*Extractor_report.json")
    )
    entity_reports = [p for p in entity_reports if p.name not in {"intent_report.json"}]
    if entity_reports:
        ents = json.loads(entity_reports[0].read_text(encoding="utf-8"))
        avg = ents.get("micro avg") or ents.get("weighted avg") or {}
        res.entity_f1 = float(avg.get("f1-score", ents.get("accuracy", 0.0)))
        res.entities = {k: v for k, v in ents.items() if isinstance(v, dict) and not k.endswith(" avg")}


def test_sentences() -> list[str]:
    """Plain text of every held-out example (annotations stripped)."""
    data = yaml.safe_load(TEST_FILE.read_text(encoding="utf-8"))
    out = []
    for item in data.get("nlu", []):
        for line in item.get("examples", "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                out.append(ANNOTATION.sub(lambda m: m.group("text"), line[2:].strip()))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, payload: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode("utf-8"), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - localhost only
        return dict(json.loads(resp.read()))


def measure_latency(model: Path, sentences: list[str], startup_timeout: float = 300.0) -> list[float]:
    """Start ``rasa run --enable-api`` and time ``/model/parse`` for each sentence (ms)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (WORK / "run.log").open("w", encoding="utf-8")
    proc = subprocess.Popen(
        [str(RASA), "run", "--enable-api", "--model", str(model), "--port", str(port), "-i", "127.0.0.1"],
        cwd=ROOT, env={**os.environ, **RASA_ENV}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                sys.exit(f"rasa run exited early, see {WORK / 'run.log'}")
            try:
                with urllib.request.urlopen(f"{base}/status", timeout=2) as resp:  # noqa: S310
                    if json.loads(resp.read()).get("model_file"):
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
                pass
            if time.monotonic() > deadline:
                sys.exit("rasa run did not load the model in time")
            time.sleep(1.0)
        for text in sentences[:20]:  # warm-up: first calls build TF graphs
            _post(f"{base}/model/parse", {"text": text})
        timings = []
        for text in sentences:
            start = time.perf_counter()
            _post(f"{base}/model/parse", {"text": text})
            timings.append((time.perf_counter() - start) * 1000)
        return timings
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def _mark(value: float, target: float, higher_is_better: bool = True) -> str:
    ok = value >= target if higher_is_better else value <= target
    return "ok" if ok else "BELOW TARGET" if higher_is_better else "ABOVE TARGET"


def _row(name: str, row: dict[str, Any]) -> str:
    p, r, f1, n = row["precision"], row["recall"], row["f1-score"], int(row["support"])
    return f"| {name} | {p:.2f} | {r:.2f} | {f1:.2f} | {n} |"


def reviewed_note(directory: Path = ROOT / "nlu_data" / "reviewed") -> str:
    """Whether staff-reviewed utterances (``bankcare nlu export-reviewed``, #23) were trained on."""
    count = 0
    for path in sorted(directory.glob("*.yml")) if directory.is_dir() else []:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for item in data.get("nlu") or []:
            count += sum(1 for line in str(item.get("examples", "")).splitlines() if line.strip().startswith("- "))
    if not count:
        return "No reviewed utterances in `nlu_data/reviewed/` yet (`bankcare nlu export-reviewed`)."
    return (f"Includes {count} staff-reviewed utterances from `nlu_data/reviewed/` "
            "(`bankcare nlu export-reviewed`): compare with the previous run to see their effect.")


def render(res: Results, command: str) -> str:
    """Markdown section for BENCHMARKS.md."""
    now = dt.datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M %Z")
    p50 = statistics.median(res.latencies_ms) if res.latencies_ms else float("nan")
    p99 = percentile(res.latencies_ms, 99) if res.latencies_ms else float("nan")
    lines = [
        SECTION,
        "",
        f"Command: `{command}` (= `python -m bench.nlu`). Trains `config.yml` on `nlu_data/`, "
        f"evaluates on the held-out `tests/nlu/test.yml` ({res.n_test} sentences, never trained on; "
        f"FallbackClassifier active, so `nlu_fallback` counts as an error), then times "
        f"`POST /model/parse` on `rasa run --enable-api`. 2 shared CPU cores. Measured {now}.",
        "",
        reviewed_note(),
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| intent macro-F1 | {res.macro_f1:.3f} ({_mark(res.macro_f1, TARGETS['macro_f1'])}) | ≥ 0.95 |",
        f"| intent accuracy | {res.accuracy:.3f} | |",
        f"| entity F1 (DIET, micro avg) | {res.entity_f1:.3f} ({_mark(res.entity_f1, TARGETS['entity_f1'])}) "
        f"| ≥ 0.90 |",
        f"| NLU training time (wall / CPU) | {res.train_seconds:.0f} s / {res.train_cpu_seconds:.0f} s "
        f"(1-min load average at the end: {res.load_average:.1f}) | full training ≤ 300 s |",
        f"| /model/parse p50 | {p50:.1f} ms ({_mark(p50, TARGETS['p50_ms'], False)}) | ≤ 30 ms |",
        f"| /model/parse p99 | {p99:.1f} ms ({_mark(p99, TARGETS['p99_ms'], False)}) | ≤ 80 ms |",
        "",
        "Per intent (held-out set):",
        "",
        "| intent | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for name, row in sorted(res.intents.items()):
        lines.append(_row(name, row))
    lines += [
        "",
        "Per entity (DIET):",
        "",
        "| entity | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for name, row in sorted(res.entities.items()):
        lines.append(_row(name, row))
    lines += ["", "Most confused intent pairs (gold → predicted: count):", ""]
    lines += [f"- {gold} → {pred}: {n}" for gold, pred, n in res.confused] or ["- none"]
    return "\n".join(lines) + "\n"




def main() -> None:
    """Entry point for ``python -m bench.nlu``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument("--skip-train", action="store_true", help="reuse var/bench-nlu/models/nlu.tar.gz")
    parser.add_argument("--no-latency", action="store_true", help="skip the rasa run latency measurement")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    if not RASA.exists():
        sys.exit(f"{RASA} not found: create the Rasa venv first")

    WORK.mkdir(parents=True, exist_ok=True)
    model_dir, results_dir = WORK / "models", WORK / "results"
    model = model_dir / "nlu.tar.gz"
    res = Results()
    if not args.skip_train:
        print("training NLU ...", flush=True)
        res.train_seconds, res.train_cpu_seconds = train(model_dir)
        res.load_average = os.getloadavg()[0]
    print("evaluating on the held-out set ...", flush=True)
    evaluate(model, results_dir)
    read_reports(results_dir, res)
    sentences = test_sentences()
    res.n_test = len(sentences)
    if not args.no_latency:
        print("measuring /model/parse latency ...", flush=True)
        res.latencies_ms = measure_latency(model, sentences)
    text = render(res, "make bench-nlu")
    print(text)
    if not args.no_write:
        write_section(text, args.output)


if __name__ == "__main__":
    main()
