"""Alembic: upgrade from an empty database and from every earlier revision; models and migrations agree."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from core.db import make_engine
from crm.migrate import alembic_config, upgrade
from crm.models import Base


def test_upgrade_from_empty_matches_models(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diffs == [], f"models changed without a migration: {diffs[:5]}"


def test_upgrade_from_each_previous_revision_and_back(database_url: str) -> None:
    cfg = alembic_config(database_url)
    revisions = [r.revision for r in reversed(list(ScriptDirectory.from_config(cfg).walk_revisions()))]
    assert revisions, "there must be at least one migration"
    for rev in revisions:
        command.downgrade(cfg, "base")
        command.upgrade(cfg, rev)
        command.upgrade(cfg, "head")
        engine = make_engine(database_url)
        assert "customers" in inspect(engine).get_table_names()
        engine.dispose()
    command.downgrade(cfg, "base")
    engine = make_engine(database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    command.upgrade(cfg, "head")
