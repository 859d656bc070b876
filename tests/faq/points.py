"""Tiny knowledge points for matcher tests."""

from __future__ import annotations

from faq.matcher import IndexedPoint


def point(i: int, *questions: str) -> IndexedPoint:
    """Point ``i`` whose standard question is the first of ``questions``."""
    return IndexedPoint(i, questions[0], f"答{i}", tuple(questions))
