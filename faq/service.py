"""The long-lived FAQ object of the action server and CLI: an index cache that hot-reloads.

Staff edit the knowledge base in the database; every ``check_interval`` seconds at most, the
service compares :func:`crm.knowledge.knowledge_version` (plus today's date, because validity
windows open and close at midnight) with the version it indexed and rebuilds when it changed.
While a rebuild runs in the background the previous index keeps answering, so a large KB
never stalls a conversation. The first build (no index yet) runs in the caller, once: callers
arriving meanwhile wait for that build instead of starting their own (a 15k-question KB takes
seconds to build, longer on a busy machine, and parallel builds of the same KB only slowed each
other down while holding every worker thread of the action server).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from crm.db import session_scope
from crm.knowledge import (
    KnowledgePointNotFound,
    get_valid_point,
    knowledge_version,
    latest_calibration,
    list_valid_points,
    load_vectors,
    save_calibration,
    save_vectors,
    today_shanghai,
)
from crm.models.knowledge import KnowledgePoint
from faq.calibrate import Thresholds, calibrate
from faq.matcher import FaqMatcher, IndexedPoint, Match, MatcherConfig, resolve_encoder
from faq.semantic import CachedEncoder, Encoder, sentence_text, text_key

log = logging.getLogger(__name__)

DecisionKind = Literal["answer", "choose", "unsure"]


@dataclass(frozen=True)
class Decision:
    """What the bot should do with a question: answer, offer choices, or say it is not sure."""

    kind: DecisionKind
    matches: tuple[Match, ...]
    thresholds: Thresholds


def to_indexed(point: KnowledgePoint) -> IndexedPoint:
    """Detach a point from its session for indexing."""
    questions = (point.standard_question, *[q for q in (point.similar_questions or []) if q])
    return IndexedPoint(point.id, point.standard_question, point.answer, tuple(questions), point.category or "")


def to_match(point: KnowledgePoint, score: float = 1.0) -> Match:
    """A point chosen directly (e.g. by button) as a Match."""
    return Match(point.id, point.standard_question, point.answer, score, point.category or "")


def decide(matches: list[Match], thresholds: Thresholds) -> DecisionKind:
    """Map the best score to an action using the calibrated thresholds."""
    if not matches or matches[0].score < thresholds.low:
        return "unsure"
    if matches[0].score >= thresholds.high:
        return "answer"
    return "choose"


def sync_vectors(session: Session, encoder: Encoder | None, points: list[IndexedPoint]) -> int:
    """Make every question's sentence vector available to ``encoder`` before an index build.

    Vectors already stored in the database are read into the encoder's memory; the rest are
    computed now and stored, so the next process (or the next import) reads them instead of
    computing them again. Returns how many were computed. Without a caching encoder (lexical
    matching only, or a test's encoder) there is nothing to do.
    """
    if not isinstance(encoder, CachedEncoder) or not points:
        return 0
    missing = encoder.missing([sentence_text(q) for p in points for q in p.questions])
    if not missing:
        return 0
    keys = {text_key(encoder.name, t): t for t in missing}
    stored = load_vectors(session, list(keys))
    encoder.remember({keys[k]: np.frombuffer(v, dtype="<f4") for k, v in stored.items()})
    todo = [t for k, t in keys.items() if k not in stored]
    if todo:
        started = time.perf_counter()
        computed = encoder.encode_kb(todo)
        rows = {text_key(encoder.name, t): v.astype("<f4").tobytes() for t, v in zip(todo, computed, strict=True)}
        save_vectors(session, encoder.name, rows)
        took = time.perf_counter() - started
        log.info("faq: %d question vectors computed in %.1fs (%d read)", len(todo), took, len(stored))
    return len(todo)


def calibrate_and_store(session: Session, config: MatcherConfig | None = None) -> Thresholds:
    """Cross-validate the current KB and store the thresholds (used by ``bankcare faq import``)."""
    points = [to_indexed(p) for p in list_valid_points(session)]
    encoder = resolve_encoder(config or MatcherConfig(), None)
    sync_vectors(session, encoder, points)
    thresholds = calibrate(points, config, encoder=encoder)
    save_calibration(session, knowledge_version(session), thresholds.high, thresholds.low, thresholds.method)
    return thresholds


class FaqService:
    """Thread-safe FAQ answering over the knowledge base in the database."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        check_interval: float = 5.0,
        config: MatcherConfig | None = None,
        background_reload: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = session_factory
        self._interval = check_interval
        self._config = config
        self._background = background_reload
        self._clock = clock
        self._lock = threading.Lock()
        self._matcher: FaqMatcher | None = None
        self._thresholds = Thresholds()
        self._version: str | None = None
        self._checked_at = float("-inf")
        self._rebuilding: threading.Thread | None = None
        self._first_build = threading.Lock()  # single flight for the build that has no index to fall back on

    @property
    def thresholds(self) -> Thresholds:
        return self._thresholds

    def _current_version(self) -> str:
        with session_scope(self._factory) as session:
            return f"{knowledge_version(session)}@{today_shanghai()}"

    def _build(self, version: str) -> None:
        started = time.perf_counter()
        with session_scope(self._factory) as session:
            points = [to_indexed(p) for p in list_valid_points(session)]
            stored = latest_calibration(session)
            thresholds = Thresholds(stored.high, stored.low, dict(stored.method or {})) if stored is not None else None
            encoder = resolve_encoder(self._config or MatcherConfig(), None)
            sync_vectors(session, encoder, points)
        matcher = FaqMatcher.build(points, self._config, encoder=encoder) if points else None
        if thresholds is None:
            # No import has calibrated yet (e.g. rows inserted by hand): calibrate in memory.
            thresholds = calibrate(points, self._config, encoder=encoder) if points else Thresholds()
        with self._lock:
            self._matcher, self._thresholds, self._version = matcher, thresholds, version
        log.info("faq index built: %d points in %.2fs", len(points), time.perf_counter() - started)

    def _background_build(self, version: str) -> None:
        try:
            self._build(version)
        except Exception:  # keep serving the old index; retry on the next check
            log.exception("faq index rebuild failed")
            with self._lock:
                self._checked_at = float("-inf")
        finally:
            with self._lock:
                self._rebuilding = None

    def refresh(self, force: bool = False) -> None:
        """Rebuild the index if the KB changed (checked at most every ``check_interval`` s)."""
        if self._version is None and not force:
            self._build_first()
            return
        now = self._clock()
        with self._lock:
            due = force or now - self._checked_at >= self._interval
            if not due or self._rebuilding is not None:
                return
            self._checked_at = now
        version = self._current_version()
        if version == self._version and not force:
            return
        if self._background and not force:
            thread = threading.Thread(target=self._background_build, args=(version,), daemon=True)
            with self._lock:
                self._rebuilding = thread
            thread.start()
        else:
            self._build(version)

    def _build_first(self) -> None:
        """Build the first index once; concurrent callers wait for it rather than build it again."""
        with self._first_build:
            if self._version is not None:  # built while this caller waited
                return
            with self._lock:
                self._checked_at = self._clock()
            self._build(self._current_version())

    def wait_for_reload(self, timeout: float = 60.0) -> None:
        """Block until a background rebuild (if any) has finished. For tests and the CLI."""
        thread = self._rebuilding
        if thread is not None:
            thread.join(timeout)

    def ask(self, text: str, k: int = 3) -> list[Match]:
        """Top-``k`` matches for ``text`` over the current index (empty if the KB is empty)."""
        self.refresh()
        matcher = self._matcher
        if matcher is None or not text.strip():
            return []
        return matcher.query(text, k)

    def decide(self, text: str, k: int = 3) -> Decision:
        """Answer, offer choices, or say not sure, using the calibrated thresholds."""
        matches = self.ask(text, k)
        thresholds = self._thresholds
        return Decision(decide(matches, thresholds), tuple(matches), thresholds)

    def get(self, point_id: int, day: dt.date | None = None) -> Match | None:
        """The point a customer chose by button, if it is still valid."""
        with session_scope(self._factory) as session:
            try:
                return to_match(get_valid_point(session, point_id, day))
            except KnowledgePointNotFound:
                return None
