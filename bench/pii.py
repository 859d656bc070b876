"""PII masking benchmark (``python -m bench.pii`` / ``make bench-pii``).

Runs every function that masks what a customer typed before it is stored, logged or shown over
``bench/data/pii_blind.tsv``, a blind set: written by a helper session (2026-12-07) without reading
``core/masking.py`` or its tests, and ``bench/data/pii_fresh.tsv``, written after the first fixes and
scored before any further change (the history in the section says which fixes each set saw). Each row is ``kind  text  must_not_survive  must_survive``
(``|``-separated lists; ``kind`` one of phone landline id card account code balance benign).

The maskers, as the application calls them:

* ``transcript``: ``core.masking.redact_customer_text`` (stored messages, RM console, insights, surveys);
* ``rasa``: ``rasa_ext.redaction.redact_events`` on a user event (the Rasa tracker store), whose
  text goes through ``core.masking.redact_numbers`` like the Rasa process's log redaction;
* ``logs``: ``core.logs.redact_text`` (every log record of the app processes).

A **leak** is a sensitive substring that survives verbatim, or whose digits (read as ASCII: full-width,
Chinese 一/幺/两 …) survive in a row among the output's digits (4 digits or more). **Over-masking**
is a benign line that comes out changed, or a sensitive line that loses a ``must_survive`` part
(a date, time, amount or rate next to the phone number). Balances typed by the customer count as
sensitive for the logs only (docs/OPERATIONS.md section 5: no balance is ever logged); transcripts
keep amounts on purpose (the customer's RM reads them, ``crm.access.rm_view`` shows balances anyway),
so their balance line is reported, not counted as a leak.

    python -m bench.pii [--no-write]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bench.report import replace_section as write_section
from bench.report import tsv_rows

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data" / "pii_blind.tsv"
FRESH = ROOT / "bench" / "data" / "pii_fresh.tsv"  # written after the fixes, never tuned on
SECTION = "## PII masking (make bench-pii)"
SENSITIVE = ("phone", "landline", "id", "card", "account", "code", "balance")
KINDS = (*SENSITIVE, "benign")


@dataclass(frozen=True)
class Case:
    kind: str
    text: str
    secrets: tuple[str, ...]
    keep: tuple[str, ...]


def parse(lines: Iterable[str]) -> list[Case]:
    """Rows of the TSV; ``#`` lines and blank lines are skipped. Raises ValueError on a bad row."""
    cases = []
    for n, fields in tsv_rows(lines, 4):
        kind, text, secrets, keep = fields
        secret_list = tuple(s for s in secrets.split("|") if s)
        keep_list = tuple(k for k in keep.split("|") if k)
        if kind not in KINDS or not text.strip():
            raise ValueError(f"line {n}: bad row {fields!r}")
        if (kind == "benign") == bool(secret_list):
            raise ValueError(f"line {n}: benign lines have no secrets, sensitive lines at least one")
        # A number split over words ("我电话138 就是1234 5678") is listed by its digits.
        if any(k not in text for k in keep_list) or any(
            s not in text and _digits(s) not in _digits(text) for s in secret_list
        ):
            raise ValueError(f"line {n}: a listed substring is not in the text")
        cases.append(Case(kind, text, secret_list, keep_list))
    return cases


def load(path: Path = DATA) -> list[Case]:
    with path.open(encoding="utf-8") as f:
        return parse(f)


def _digits(text: str) -> str:
    from core.masking import ascii_digits

    return ascii_digits(text)


def leaked(secret: str, output: str) -> bool:
    """``secret`` survives in ``output`` verbatim, or its digits (4 or more) do, in a row."""
    if secret in output:
        return True
    digits = _digits(secret)
    return len(digits) >= 4 and digits in _digits(output)


@dataclass
class Score:
    name: str
    counts_balance: bool
    per_kind: dict[str, list[int]] = field(default_factory=dict)  # kind: [leaks, lines]
    over: int = 0  # benign lines changed or sensitive lines that lost a must_survive part
    benign: int = 0
    benign_changed: int = 0
    leaks: list[tuple[Case, str]] = field(default_factory=list)
    overs: list[tuple[Case, str]] = field(default_factory=list)

    @property
    def sensitive(self) -> int:
        return sum(total for kind, (_l, total) in self.per_kind.items() if self.counts(kind))

    @property
    def leak_count(self) -> int:
        return sum(lk for kind, (lk, _t) in self.per_kind.items() if self.counts(kind))

    def counts(self, kind: str) -> bool:
        return kind != "balance" or self.counts_balance


def score(name: str, cases: Iterable[Case], mask: Callable[[str], str], counts_balance: bool) -> Score:
    s = Score(name, counts_balance)
    for case in cases:
        out = mask(case.text)
        if case.kind == "benign":
            s.benign += 1
            if out != case.text:
                s.benign_changed += 1
                s.over += 1
                s.overs.append((case, out))
            continue
        cell = s.per_kind.setdefault(case.kind, [0, 0])
        cell[1] += 1
        if any(leaked(secret, out) for secret in case.secrets):
            cell[0] += 1
            s.leaks.append((case, out))
        if any(k not in out for k in case.keep):
            s.over += 1
            s.overs.append((case, out))
    return s


def _rasa_user_text(text: str) -> str:
    from rasa_ext.redaction import redact_events

    out = redact_events([{"event": "user", "text": text, "parse_data": {"text": text, "entities": []}}])
    return str(out[0]["text"])


def maskers() -> list[tuple[str, Callable[[str], str], bool]]:
    from core.logs import redact_text
    from core.masking import redact_customer_text

    return [
        ("transcript", redact_customer_text, False),
        ("rasa", _rasa_user_text, False),
        ("logs", redact_text, True),
    ]


def masking_version() -> str:
    paths = ["core/masking.py", "core/logs.py"]

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip()

    commit = git("log", "-1", "--format=%h", "--", *paths) or "unknown"
    dirty = git("status", "--porcelain", "--", *paths)
    return f"`core/masking.py`, `core/logs.py` at {commit}" + (" plus uncommitted changes" if dirty else "")


def _clip(text: str, n: int = 60) -> str:
    text = text.replace("|", "/").replace("\u00a0", "⍽").replace("\u3000", "⍽")
    return text if len(text) <= n else text[: n - 1] + "…"


HISTORY = """History (leaks / sensitive lines counted, then over-masked lines; blind set, then fresh set):

| masking | transcript | rasa | logs (balances counted) |
|---|---|---|---|
| before the fixes (39d53b2) | 121/371, 0 · fresh 21/48, 1 | 121/371, 0 · fresh 21/48, 0 | 136/391, 0 · fresh 25/52, 0 |
| fixes made looking at the blind set (8652264); fresh set written after, scored untuned | 0/371, 0 · fresh 4/48, 2 | 0/371, 0 · fresh 4/48, 2 | 1/391, 0 · fresh 4/52, 1 |

The blind set stopped being blind with the fixes (they were made looking at its leaks): its 0 is a
fitted score. The fresh set's first score (4 leaks in 48) is the honest estimate; three of those four
were fixed afterwards (验证码好像是 7 2 8 3 0 1, 收到个验证码，四位的：3856, 短信发来的数字是 728301),
so the rows below are fitted to both sets.
"""


def _totals(scores: list[Score]) -> list[str]:
    return [
        "| **leaks, counted** | " + " | ".join(f"**{s.leak_count}/{s.sensitive}**" for s in scores) + " |",
        "| **over-masked lines** | "
        + " | ".join(f"**{s.over}** ({s.benign_changed}/{s.benign} benign changed)" for s in scores)
        + " |",
    ]


def render(
    scores: list[Score], cases: list[Case], version: str, seconds: float, fresh: list[Score] | None = None
) -> str:
    n_benign = sum(c.kind == "benign" for c in cases)
    lines = [
        SECTION,
        "",
        f"_Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; masking: {version}._",
        "",
        f"Every text masker over `bench/data/pii_blind.tsv` (bench/pii.py): {len(cases) - n_benign} customer "
        f"messages carrying a phone, landline, ID, card or account number, an SMS code or a balance, and "
        f"{n_benign} benign lines (dates, times, amounts, rates, the bank's own ticket refs GS/YY/TS…, "
        "published branch phones, 95xxx/96110/400 numbers). **The set was blind when first scored**: written "
        "on 2026-12-07 without reading core/masking.py or its tests (see the history for what that means now). A leak: a sensitive part surviving verbatim, or its "
        "digits (4+) in a row in any script. Over-masking: a benign line changed, or a date/time/amount "
        "next to the number lost. `transcript` = `redact_customer_text` (stored messages, RM console), "
        "`rasa` = `rasa_ext.redaction` (tracker store), `logs` = `core.logs.redact_text`. Balances typed "
        "by the customer count for the logs only (see the module docstring).",
        "",
        HISTORY,
        "Leaks per kind, now (leaked / lines):",
        "",
        "| kind | " + " | ".join(s.name for s in scores) + " |",
        "|---|" + "---|" * len(scores),
    ]
    for kind in SENSITIVE:
        cells = []
        for s in scores:
            lk, total = s.per_kind.get(kind, [0, 0])
            cells.append(f"{lk}/{total}" + ("" if s.counts(kind) else " (not counted)"))
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines += _totals(scores)
    lines += ["", f"Mean time per message, all three maskers: {seconds * 1e6:.0f} µs.", ""]
    if fresh:
        lines += [
            "`bench/data/pii_fresh.tsv`: lines written after the fixes (by the same session, new wording and "
            "formats), never used for tuning; a check that the fixes were not fitted to the blind set:",
            "",
            "| | " + " | ".join(s.name for s in fresh) + " |",
            "|---|" + "---|" * len(fresh),
            *_totals(fresh),
            "",
        ]
        for s in fresh:
            shown = [(c, o) for c, o in s.leaks if s.counts(c.kind)]
            lines += [f"- `{s.name}` fresh-set leak: [{c.kind}] {_clip(c.text)} → {_clip(o)}" for c, o in shown]
            lines += [f"- `{s.name}` fresh-set over-masking: {_clip(c.text)} → {_clip(o)}" for c, o in s.overs]
        lines.append("")
    for s in scores:
        shown = [(c, o) for c, o in s.leaks if s.counts(c.kind)]
        lines += [f"`{s.name}` leaks ({len(shown)}):", ""]
        lines += [f"- [{c.kind}] {_clip(c.text)} → {_clip(o)}" for c, o in shown[:40]]
        if len(shown) > 40:
            lines.append(f"- … and {len(shown) - 40} more")
        lines += ["", f"`{s.name}` over-masking ({len(s.overs)}):", ""]
        lines += [f"- [{c.kind}] {_clip(c.text)} → {_clip(o)}" for c, o in s.overs]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)
    cases = load()
    fns = maskers()
    started = time.perf_counter()
    scores = [score(name, cases, fn, counts_balance) for name, fn, counts_balance in fns]
    seconds = (time.perf_counter() - started) / len(cases)
    fresh = load(FRESH) if FRESH.exists() else []
    fresh_scores = [score(name, fresh, fn, counts_balance) for name, fn, counts_balance in fns] if fresh else None
    text = render(scores, cases, masking_version(), seconds, fresh_scores)
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
