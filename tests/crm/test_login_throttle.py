"""Console login throttling counters: the backoff rule, and parallel guesses (threads, both backends).

The parallel tests are the regression for finding 4 of #19: the old counter was a read-modify-write
(``failed_logins += 1``) without a row lock, so parallel guesses on PostgreSQL got past the limit.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_engine, make_sessionmaker, session_scope
from crm.access import login_throttle as throttle
from crm.migrate import upgrade

NOW = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(database_url)
    engine = make_engine(database_url, pool_size=20) if "postgresql" in database_url else make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def attempt(factory: sessionmaker[Session], login: str, address: str, now: dt.datetime = NOW) -> int:
    """One reservation as the gateway makes it: retried while it loses races."""
    while True:
        with session_scope(factory) as s:
            wait = throttle.try_reserve(s, login, address, now)
        if wait != throttle.RACED:
            return wait


def in_parallel(factory: sessionmaker[Session], calls: list[tuple[str, str]]) -> list[int]:
    """Run the attempts on threads released together; their answers in call order."""
    results: list[int] = [-99] * len(calls)
    gate = threading.Barrier(len(calls))

    def run(i: int, login: str, address: str) -> None:
        gate.wait()
        results[i] = attempt(factory, login, address)

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_wait_doubles_after_the_free_failures_and_is_capped() -> None:
    at = NOW
    assert [throttle.wait_seconds("pair", n, at, at) for n in range(3)] == [0, 0, 0]
    assert [throttle.wait_seconds("pair", n, at, at) for n in (3, 4, 5, 6)] == [2, 4, 8, 16]
    assert throttle.wait_seconds("pair", 40, at, at) == 900
    assert throttle.wait_seconds("pair", 5, at, at + dt.timedelta(seconds=3)) == 5
    assert throttle.wait_seconds("pair", 5, at, at + dt.timedelta(hours=2)) == 0  # forgotten after an hour


def test_parallel_guesses_from_one_address_cannot_exceed_the_limit(factory: sessionmaker[Session]) -> None:
    results = in_parallel(factory, [("rm002", "203.0.113.7")] * 16)
    allowed = results.count(0)
    assert allowed == throttle.RULES["pair"].free, results
    assert all(r > 0 for r in results if r != 0)
    with factory() as s:
        assert throttle.failures(s, "pair", "203.0.113.7 rm002") == throttle.RULES["pair"].free
        assert throttle.failures(s, "address", "203.0.113.7") == throttle.RULES["pair"].free


def test_parallel_guesses_from_many_addresses_are_all_counted(factory: sessionmaker[Session]) -> None:
    # No lost update: every one of the parallel attempts is in the per-login counter.
    calls = [("rm003", f"198.51.100.{i}") for i in range(1, 13)]
    assert in_parallel(factory, calls) == [0] * len(calls)
    with factory() as s:
        assert throttle.failures(s, "account", "rm003") == len(calls)


def test_login_backoff_binds_failing_addresses_only(factory: sessionmaker[Session]) -> None:
    free = throttle.RULES["account"].free
    for i in range(free):
        assert attempt(factory, "rm004", f"192.0.2.{i}") == 0
    assert attempt(factory, "rm004", "192.0.2.0") > 0  # has failed on rm004 before: waits
    assert attempt(factory, "rm004", "198.51.100.99") == 0  # the RM at a clean address gets through


def test_forgive_clears_the_pair_and_takes_back_the_reservation(factory: sessionmaker[Session]) -> None:
    for _ in range(3):
        attempt(factory, "rm005", "192.0.2.50")
    assert attempt(factory, "rm005", "192.0.2.50") > 0
    with session_scope(factory) as s:
        throttle.forgive(s, "rm005", "192.0.2.50", attempts=1)
    with factory() as s:
        assert throttle.failures(s, "pair", "192.0.2.50 rm005") == 0
        assert throttle.failures(s, "address", "192.0.2.50") == 2
        assert throttle.failures(s, "account", "rm005") == 2
    assert attempt(factory, "rm005", "192.0.2.50") == 0
