"""A migrated, seeded demo bank on SQLite, built once per test session and copied per test."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.db import make_engine, make_sessionmaker, session_scope

# A fixed "today" keeps seeded maturities and due dates where the tests expect them.
AS_OF = dt.date(2025, 4, 16)
CUSTOMERS = 50


def build_template(directory: Path) -> Path:
    """Migrate and seed one database file; tests copy it instead of seeding again."""
    from crm.demo.seed import seed_demo_bank
    from crm.migrate import upgrade

    path = directory / "template.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    seed_demo_bank(engine, customers=CUSTOMERS, as_of=AS_OF)
    engine.dispose()
    return path


def copy_bank(template: Path, target: Path) -> str:
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@contextmanager
def session_for(engine: Engine) -> Iterator[Session]:
    with session_scope(make_sessionmaker(engine)) as session:
        yield session


def engine_for(url: str) -> Engine:
    return make_engine(url)
