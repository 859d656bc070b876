"""A fresh SQLite database with every table and the demo FAQ knowledge base (lexical matching:
fast and deterministic; the sentence vectors are measured by ``make bench-insights``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

import crm.models  # noqa: F401 - every table on Base.metadata
from core.db import make_engine, make_sessionmaker
from crm.models.base import Base
from faq.io import read_knowledge_file
from faq.service import import_knowledge

KB = Path(__file__).resolve().parents[2] / "nlu_data" / "faq" / "knowledge_base.tsv"


@pytest.fixture
def factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    monkeypatch.setenv("FAQ_SEMANTIC", "0")
    engine = make_engine(f"sqlite:///{tmp_path / 'insights.db'}")
    Base.metadata.create_all(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def kb_factory(factory: sessionmaker[Session]) -> sessionmaker[Session]:
    import_knowledge(factory, read_knowledge_file(KB))
    return factory
