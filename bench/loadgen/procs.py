"""What the stack's processes use: resident memory and CPU time (psutil), children included
(Rasa and the Sanic action server fork workers)."""

from __future__ import annotations

import psutil


def _tree(pid: int) -> list[psutil.Process]:
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its children in MiB (0 if it is gone)."""
    total = 0
    for p in _tree(pid):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live children so far."""
    total = 0.0
    for p in _tree(pid):
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def memory(pids: dict[str, int]) -> dict[str, float]:
    return {name: rss_mb(pid) for name, pid in pids.items()}


def cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds per service, plus ``loadgen`` (this process: signing, parsing, bookkeeping)."""
    own = psutil.Process().cpu_times()
    return {**{name: cpu_s(pid) for name, pid in pids.items()}, "loadgen": own.user + own.system}


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each live process in ``pids`` (no children: PostgreSQL backends)."""
    out: dict[int, float] = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        out[pid] = t.user + t.system
    return out
