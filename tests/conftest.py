"""Shared fixtures: databases on both backends, the demo bank."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text

from core.db import make_engine
from crm.demo.seed import seed_demo_bank
from crm.migrate import upgrade

PG_ADMIN_URL = os.environ.get("BANKCARE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
AS_OF = dt.date(2026, 11, 30)


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # noqa: BLE001 - any connection problem means "not available"
        return False


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[Engine]:
    """An engine on the PostgreSQL server; on CI its absence is a failure, not a skip."""
    if not _pg_available():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required on CI (CI=true)")
        pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432")
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def new_pg_database(admin: Engine) -> str:
    name = f"bankcare_t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(admin: Engine, url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'bankcare.db'}"
        return
    admin = request.getfixturevalue("pg_admin")
    url = new_pg_database(admin)
    try:
        yield url
    finally:
        drop_pg_database(admin, url)


@pytest.fixture
def migrated_url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


@pytest.fixture
def demo_engine(migrated_url: str) -> Iterator[Engine]:
    """A migrated database holding a small demo bank (both backends)."""
    engine = make_engine(migrated_url)
    seed_demo_bank(engine, customers=120, as_of=AS_OF)
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


# --- the running assistant (real rasa, actions, gateway, WeChat sandbox), one per test session ---


@pytest.fixture(scope="session")
def rasa_model():  # type: ignore[no-untyped-def]
    from tests.e2e.helpers import model_path

    return model_path()  # BANKCARE_E2E_MODEL pins a model while someone edits the training data


@pytest.fixture(scope="session")
def stack(rasa_model, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from devstack.stack import import_faq, start_stack

    workdir = tmp_path_factory.mktemp("stack")
    url = f"sqlite:///{workdir / 'bankcare.db'}"
    upgrade(url)
    seed_demo_bank(make_engine(url), customers=200, as_of=dt.datetime.now(dt.UTC).date())
    import_faq(url)
    running = start_stack(workdir, url, rasa_model)
    yield running
    running.stop_all()
