"""`make bench-seed`: build the 1,000,000-customer demo bank and time it (target ≤ 10 minutes)."""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

from bench.report import write_section
from core.db import make_engine
from crm.demo.seed import seed_demo_bank
from crm.migrate import upgrade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temp dir")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bankcare-bench-")
    url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
    upgrade(url)
    started = time.perf_counter()
    with tqdm(total=args.customers, unit="户", desc="seed") as bar:
        report = seed_demo_bank(make_engine(url), customers=args.customers, progress=bar.update)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = ""
    if url.startswith("sqlite:///"):
        size = f"{os.path.getsize(url.removeprefix('sqlite:///')) / 2**30:.1f} GiB"
    backend = url.split(":", 1)[0]
    rows = report.customers + report.accounts + report.transactions + report.deposits + report.loans
    body = f"""Command: `make bench-seed` (`python -m bench.seed --customers {args.customers}`), backend {backend}.

| customers | accounts | transactions | deposits | loans | seconds | rows/s | peak RSS | database | target |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|
| {report.customers:,} | {report.accounts:,} | {report.transactions:,} | {report.deposits:,} | {report.loans:,} | {seconds:.0f} | {rows / seconds:,.0f} | {peak_mb:,.0f} MB | {size} | ≤ 600 s |
"""
    print(body)
    write_section("Demo bank seed (make bench-seed)", body)


if __name__ == "__main__":
    main()
