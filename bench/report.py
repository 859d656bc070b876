"""Write one section of BENCHMARKS.md, leaving the other sections as they are."""

from __future__ import annotations

import datetime as dt
import platform
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nMeasured on the project's 2-core, 24 GiB machine unless a section says otherwise.\n"


def machine() -> str:
    import os

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def write_section(title: str, body: str) -> None:
    """Replace (or append) the section starting with ``## {title}``."""
    text = BENCHMARKS.read_text(encoding="utf-8") if BENCHMARKS.exists() else HEADER
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    section = f"## {title}\n\n_Measured {stamp} on {machine()}._\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text)  # a function: "\\r" in a body stays text
    else:
        text = text.rstrip() + "\n\n" + section
    BENCHMARKS.write_text(text.rstrip() + "\n", encoding="utf-8")


def replace_section(text: str, path: Path = BENCHMARKS) -> None:
    """Replace (or append) the section that ``text`` starts with (its ``## ...`` line), keeping the others."""
    title = text.lstrip().splitlines()[0]
    current = path.read_text(encoding="utf-8") if path.exists() else HEADER
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    block = text.strip() + "\n\n"
    updated = pattern.sub(lambda _m: block, current) if pattern.search(current) else current.rstrip() + "\n\n" + block
    path.write_text(updated.rstrip() + "\n", encoding="utf-8")


def tsv_rows(lines: Iterable[str], fields: int | None = None) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of a written case file: blank and ``#`` lines skipped; with ``fields``,
    a row with another count raises ValueError naming the line."""
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\r\n")
        if not line.strip() or line.startswith("#"):
            continue
        row = line.split("\t")
        if fields is not None and len(row) != fields:
            raise ValueError(f"line {n}: {len(row)} fields, expected {fields}")
        yield n, row
