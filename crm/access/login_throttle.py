"""Console login throttling: exponential backoff per (login, address), per address and, softly, per login.

Why not a lockout: a per-account lock lets anyone lock an RM out with five wrong passwords. Here the
strong limits bind the guesser's own address: after ``free`` failures each further attempt waits
2, 4, 8 … seconds (capped) after the previous failure. The per-login limit only binds addresses
that have themselves failed on that login, so the RM at a clean address still gets in while someone
elsewhere guesses; a guesser spread over many addresses pays one fresh address per guess.

Every attempt is counted *before* the password is checked (a reservation) and forgiven when the
login succeeds; the count moves by one compare-and-swap UPDATE (``failures = failures + 1 WHERE
failures = <seen>``), so parallel guesses cannot slip past the limit (lost updates or
check-then-act): a loser of the race sees ``RACED`` and tries again on fresh numbers.
Counters are keyed by the login as typed, so unknown logins are throttled exactly like real ones.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm.models.login import LoginThrottle


@dataclass(frozen=True)
class Rule:
    free: int  # failures allowed without waiting
    cap_s: int  # longest wait between attempts


RULES = {
    "pair": Rule(free=3, cap_s=900),  # one address guessing one login: 2 s, 4 s … up to 15 min
    "account": Rule(free=10, cap_s=300),  # one login from many addresses; binds failing addresses only
    "address": Rule(free=20, cap_s=900),  # one address across logins (a branch office shares one)
}
# A counter idle this long starts again from zero (and its row is purged).
RESET_AFTER = dt.timedelta(hours=1)
RACED = -1  # try_reserve's answer when a parallel attempt changed a counter first


def _rows(result: object) -> int:
    """Rows an UPDATE changed (``Session.execute`` is typed as a plain Result, which has no rowcount)."""
    return int(getattr(result, "rowcount", 0) or 0)


def keys(login: str, address: str) -> dict[str, str]:
    """The counter key of each scope for one attempt."""
    return {"pair": f"{address} {login}"[:100], "account": login[:100], "address": address[:100]}


def wait_seconds(scope: str, failures: int, last_failure_at: dt.datetime, now: dt.datetime) -> int:
    """Seconds until the next attempt is allowed after ``failures`` failures (0: allowed now)."""
    rule = RULES[scope]
    if failures < rule.free or now - last_failure_at > RESET_AFTER:
        return 0
    delay = min(2 ** min(failures - rule.free + 1, 30), rule.cap_s)
    ready = last_failure_at + dt.timedelta(seconds=delay)
    return max(0, math.ceil((ready - now).total_seconds()))


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(LoginThrottle)


def try_reserve(session: Session, login: str, address: str, now: dt.datetime) -> int:
    """Count one attempt for ``login`` from ``address`` if the backoff allows it.

    Returns:
        0 when the attempt may go ahead (it is already counted as a failure until ``forgive``),
        the seconds to wait when it is throttled (nothing counted), or ``RACED`` when a parallel
        attempt won: everything was rolled back and the caller should call again.
    """
    session.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < now - RESET_AFTER))
    wanted = keys(login, address)
    # Rows first, in a fixed order (pair, account, address): their locks are then always taken in
    # the same order, so parallel reservations cannot deadlock.
    for scope, key in wanted.items():
        row = {"scope": scope, "key": key, "failures": 0, "last_failure_at": now}
        session.execute(_insert(session).values(**row).on_conflict_do_nothing(index_elements=["scope", "key"]))
    seen: dict[str, tuple[int, dt.datetime]] = {}
    for scope, key in wanted.items():
        found = session.execute(
            select(LoginThrottle.failures, LoginThrottle.last_failure_at).where(
                LoginThrottle.scope == scope, LoginThrottle.key == key
            )
        ).first()
        if found is None:  # purged by a parallel attempt between our insert and this read
            session.rollback()
            return RACED
        seen[scope] = (found[0], found[1])

    pair_failing = seen["pair"][0] > 0 and now - seen["pair"][1] <= RESET_AFTER
    waits = [wait_seconds(s, n, at, now) for s, (n, at) in seen.items() if s != "account" or pair_failing]
    if max(waits) > 0:
        return max(waits)

    for scope, key in wanted.items():
        failures, at = seen[scope]
        stale = now - at > RESET_AFTER
        changed = session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.scope == scope, LoginThrottle.key == key, LoginThrottle.failures == failures)
            .values(failures=1 if stale else LoginThrottle.failures + 1, last_failure_at=now)
        )
        if _rows(changed) != 1:
            session.rollback()
            return RACED
    return 0


def forgive(session: Session, login: str, address: str, attempts: int) -> None:
    """A login succeeded: clear the (login, address) backoff and take back its ``attempts`` reservations."""
    wanted = keys(login, address)
    session.execute(delete(LoginThrottle).where(LoginThrottle.scope == "pair", LoginThrottle.key == wanted["pair"]))
    for scope in ("account", "address"):
        session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.scope == scope, LoginThrottle.key == wanted[scope])
            .values(
                failures=case(
                    (LoginThrottle.failures > attempts, LoginThrottle.failures - attempts), else_=0
                )
            )
        )


def failures(session: Session, scope: str, key: str) -> int:
    """The current count for one scope/key (0 when none)."""
    value = session.scalar(
        select(LoginThrottle.failures).where(LoginThrottle.scope == scope, LoginThrottle.key == key)
    )
    return int(value or 0)
