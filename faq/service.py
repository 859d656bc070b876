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
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from core.db import session_scope
from crm.knowledge import (
    KnowledgeDraft,
    KnowledgePointNotFound,
    UpsertResult,
    export_points,
    get_valid_point,
    knowledge_version,
    latest_calibration,
    list_valid_points,
    load_vectors,
    prune_vectors,
    save_calibration,
    save_vectors,
    today_shanghai,
    upsert_points,
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


def choices(matches: Sequence[Match], thresholds: Thresholds) -> list[Match]:
    """The candidates worth offering when the bot is not sure: the best one and those scoring at
    least ``low``, the calibrated score below which offering an answer stops helping. A customer
    used to get three buttons even when the second and third were unrelated to the question
    (another bank's FAQ, colloquial questions: 3 buttons on average became 1.45, the right answer
    still among them in 173 of 175 cases, ``make bench-faq-other``)."""
    return [m for i, m in enumerate(matches) if i == 0 or m.score >= thresholds.low]


def _rows(encoder: Encoder, texts: Sequence[str], vectors: np.ndarray) -> dict[str, bytes]:
    return {text_key(encoder.name, t): v.astype("<f4").tobytes() for t, v in zip(texts, vectors, strict=True)}


def pending_vectors(session: Session, encoder: Encoder | None, points: Sequence[IndexedPoint]) -> list[str]:
    """Questions (as embedded) whose vectors are nowhere yet: not in the encoder's memory, the
    database or this host's disk cache. Vectors found are loaded into memory on the way, and
    those found only on disk are stored in the database too (for the other hosts)."""
    if not isinstance(encoder, CachedEncoder) or not points:
        return []
    missing = encoder.missing([sentence_text(q) for p in points for q in p.questions])
    if not missing:
        return []
    keys = {text_key(encoder.name, t): t for t in missing}
    stored = load_vectors(session, list(keys))
    encoder.remember({keys[k]: np.frombuffer(v, dtype="<f4") for k, v in stored.items()})
    not_stored = [t for k, t in keys.items() if k not in stored]
    on_disk = encoder.load_from_disk(not_stored)
    if on_disk:
        save_vectors(session, encoder.name, _rows(encoder, on_disk, encoder.encode(on_disk)))
    return encoder.missing(not_stored)


def sync_vectors(session: Session, encoder: Encoder | None, points: Sequence[IndexedPoint]) -> int:
    """Make every question's sentence vector available to ``encoder`` before an index build:
    read what is stored, compute and store the rest (so the next process reads them instead).
    Returns how many were computed. Without a caching encoder (lexical matching, or a test's
    encoder) there is nothing to do."""
    todo = pending_vectors(session, encoder, points)
    if todo and isinstance(encoder, CachedEncoder):
        started = time.perf_counter()
        save_vectors(session, encoder.name, _rows(encoder, todo, encoder.encode_kb(todo)))
        log.info("faq: %d question vectors computed in %.1fs", len(todo), time.perf_counter() - started)
    return len(todo)


def embed_pending(
    factory: sessionmaker[Session],
    encoder: CachedEncoder,
    texts: Sequence[str],
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 512,
) -> None:
    """Compute and store the vectors of ``texts``, one transaction per ``chunk``: an interrupted
    run keeps what it finished, and the next import only computes the rest."""
    for start in range(0, len(texts), chunk):
        part = list(texts[start : start + chunk])
        vectors = encoder.encode_kb(part)
        with session_scope(factory) as session:
            save_vectors(session, encoder.name, _rows(encoder, part, vectors))
        if progress is not None:
            progress(min(start + chunk, len(texts)), len(texts))


def calibrate_and_store(
    session: Session, config: MatcherConfig | None = None, semantic: bool | None = None
) -> Thresholds:
    """Cross-validate the current KB and store the thresholds (used by ``bankcare faq import``).

    ``semantic=False`` calibrates lexical matching (sentence vectors not ready yet); the stored
    method says which kind it was, and the action servers build that kind of index.
    """
    config = config or MatcherConfig()
    if semantic is False:
        config = replace(config, semantic=False)
    points = [to_indexed(p) for p in list_valid_points(session)]
    encoder = resolve_encoder(config, None)
    sync_vectors(session, encoder, points)
    thresholds = calibrate(points, config, encoder=encoder)
    save_calibration(session, knowledge_version(session), thresholds.high, thresholds.low, thresholds.method)
    return thresholds


INLINE_EMBED_MAX = 1000  # new questions embedded inside the import (~5 s on 2 cores)


@dataclass(frozen=True)
class ImportOutcome:
    """What :func:`import_knowledge` did."""

    result: UpsertResult
    thresholds: Thresholds  # the final ones
    lexical_first: Thresholds | None  # stored while vectors were computed, if any were missing
    embedded: int  # questions whose vectors this import computed
    pruned: int = 0  # stored vectors no active question uses any more, deleted


def import_knowledge(
    factory: sessionmaker[Session],
    drafts: Sequence[KnowledgeDraft],
    replace_missing: bool = False,
    on_live: Callable[[UpsertResult, Thresholds, int], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    inline_max: int = INLINE_EMBED_MAX,
) -> ImportOutcome:
    """Import knowledge points (all or nothing) and calibrate; the KB is live within a minute.

    Embedding a question costs ~8 ms on 2 cores, so a KB of 15,000 new questions would wait two
    minutes for its vectors. Instead, when vectors are missing, the points and *lexical*
    thresholds are committed first (the action servers switch to the new KB with a lexical
    index: ``on_live`` is called then), the vectors are computed and stored in chunks, and the
    sentence-vector thresholds are stored last (the action servers switch to the full index).
    An interrupted run leaves a consistent, lexically calibrated KB and the vectors it finished.
    Up to ``inline_max`` new questions (a staff edit, seconds of work) are embedded within the
    import's transaction instead: one calibration, and the action servers never step back to a
    lexical index.
    """
    encoder = resolve_encoder(MatcherConfig(), None)
    with session_scope(factory) as session:  # one transaction: all or nothing
        result = upsert_points(session, drafts, replace=replace_missing)
        points = [to_indexed(p) for p in list_valid_points(session)]
        pending = pending_vectors(session, encoder, points)
        inline = isinstance(encoder, CachedEncoder) and 0 < len(pending) <= inline_max
        if inline:
            assert isinstance(encoder, CachedEncoder)
            save_vectors(session, encoder.name, _rows(encoder, pending, encoder.encode_kb(pending)))
        thresholds = calibrate_and_store(session, semantic=False if pending and not inline else None)
    if on_live is not None:
        on_live(result, thresholds, 0 if inline else len(pending))
    if not isinstance(encoder, CachedEncoder):
        return ImportOutcome(result, thresholds, None, 0)
    if inline or not pending:
        return ImportOutcome(result, thresholds, None, len(pending), _prune(factory, encoder))
    embed_pending(factory, encoder, pending, progress)
    with session_scope(factory) as session:
        final = calibrate_and_store(session)
    return ImportOutcome(result, final, thresholds, len(pending), _prune(factory, encoder))


def _prune(factory: sessionmaker[Session], encoder: Encoder) -> int:
    """Drop stored vectors of questions no active point has (any validity window: a point valid
    from next month keeps its vectors)."""
    with session_scope(factory) as session:
        keep = {
            text_key(encoder.name, sentence_text(q))
            for p in export_points(session, include_inactive=False)
            for q in (p.standard_question, *p.similar_questions)
        }
        return prune_vectors(session, keep)


REBUILD_NICE = 19


def _yield_cpu_to_answers() -> None:
    """Run the calling (rebuild) thread at the lowest CPU priority. A rebuild takes one core for
    seconds; without this, answers given meanwhile waited for the encoder's OpenMP threads to get
    both cores back (15k KB, asks during a hot reload: p95 109 -> 9.6 ms, BENCHMARKS.md). Linux
    sets nice per thread; the thread ends with the rebuild. Elsewhere, or if refused, nothing
    changes."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), REBUILD_NICE)
    except (AttributeError, OSError):
        pass


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
        # The calibration is part of the version: an import stores lexical thresholds first and
        # sentence-vector thresholds when the vectors are ready; each switches the index kind.
        with session_scope(self._factory) as session:
            calibration = latest_calibration(session)
            calibrated = calibration.id if calibration is not None else 0
            return f"{knowledge_version(session)}@{today_shanghai()}#{calibrated}"

    def _build(self, version: str) -> None:
        started = time.perf_counter()
        with session_scope(self._factory) as session:
            points = [to_indexed(p) for p in list_valid_points(session)]
            stored = latest_calibration(session)
            thresholds = Thresholds(stored.high, stored.low, dict(stored.method or {})) if stored is not None else None
            config = self._config or MatcherConfig()
            if thresholds is not None and not thresholds.method.get("sentence_vectors"):
                # Thresholds fit the index they were calibrated on: lexical ones (vectors still
                # being computed by an import, or set by hand) get a lexical index.
                config = replace(config, semantic=False)
            encoder = resolve_encoder(config, None)
            sync_vectors(session, encoder, points)
        matcher = FaqMatcher.build(points, config, encoder=encoder) if points else None
        if thresholds is None:
            # No import has calibrated yet (e.g. rows inserted by hand): calibrate in memory.
            thresholds = calibrate(points, config, encoder=encoder) if points else Thresholds()
        with self._lock:
            self._matcher, self._thresholds, self._version = matcher, thresholds, version
        log.info("faq index built: %d points in %.2fs", len(points), time.perf_counter() - started)

    def _background_build(self, version: str) -> None:
        _yield_cpu_to_answers()
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

    @property
    def reloading(self) -> bool:
        """Whether a background rebuild is running (the previous index answers meanwhile)."""
        thread = self._rebuilding
        return thread is not None and thread.is_alive()

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
        kind = decide(matches, thresholds)
        return Decision(kind, tuple(choices(matches, thresholds) if kind == "choose" else matches), thresholds)

    def get(self, point_id: int, day: dt.date | None = None) -> Match | None:
        """The point a customer chose by button, if it is still valid."""
        with session_scope(self._factory) as session:
            try:
                return to_match(get_valid_point(session, point_id, day))
            except KnowledgePointNotFound:
                return None
