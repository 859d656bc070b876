"""Stored sentence vectors (crm/knowledge.py, table faq_vector) on SQLite and PostgreSQL."""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select

from core.db import make_engine, make_sessionmaker, session_scope
from crm.knowledge import load_vectors, prune_vectors, save_vectors
from crm.models.knowledge import FaqVector


def _vector(seed: int) -> bytes:
    return np.random.default_rng(seed).standard_normal(384).astype("<f4").tobytes()


def test_vectors_round_trip_keep_the_first_writer_and_prune(migrated_url: str) -> None:
    engine = make_engine(migrated_url)
    factory = make_sessionmaker(engine)
    try:
        many = {f"k{i:04d}": _vector(i) for i in range(1200)}  # more than one chunk of 500
        with session_scope(factory) as session:
            assert save_vectors(session, "model-a", many) == 1200
        # Another process stored the same key meanwhile: the stored row stays, nothing fails.
        with session_scope(factory) as session:
            save_vectors(session, "model-a", {"k0000": _vector(99), "new": _vector(7)})
        with session_scope(factory) as session:
            found = load_vectors(session, ["k0000", "k1199", "new", "absent", "k0000"])
        assert set(found) == {"k0000", "k1199", "new"}
        assert found["k0000"] == many["k0000"] and found["new"] == _vector(7)
        np.testing.assert_array_equal(np.frombuffer(found["k1199"], "<f4"), np.frombuffer(many["k1199"], "<f4"))
        keep = {f"k{i:04d}" for i in range(0, 1200, 2)}
        with session_scope(factory) as session:
            assert prune_vectors(session, keep) == 601  # 600 odd keys and "new"
        with session_scope(factory) as session:
            assert set(session.scalars(select(FaqVector.key))) == keep
            assert session.scalar(select(func.count()).select_from(FaqVector)) == 600
            assert prune_vectors(session, keep) == 0
    finally:
        engine.dispose()
