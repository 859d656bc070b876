"""Resident memory of the stack's processes (psutil), children included (Rasa forks workers)."""

from __future__ import annotations

import psutil


def rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its children in MiB (0 if it is gone)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def snapshot(pids: dict[str, int]) -> dict[str, float]:
    return {name: rss_mb(pid) for name, pid in pids.items()}
