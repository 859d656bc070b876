"""Text normalisation shared by indexing and querying.

The same function must run on both sides, so every trick that makes two phrasings look
alike (width folding, synonym rewriting, stripping filler words) lives here and nowhere else.
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import jieba
from pypinyin import Style, lazy_pinyin

REPO_ROOT = Path(__file__).resolve().parent.parent
USERDICT_PATH = REPO_ROOT / "nlu_data" / "jieba" / "userdict.txt"
SYNONYMS_PATH = REPO_ROOT / "nlu_data" / "faq" / "synonyms.tsv"

# Punctuation and whitespace carry no meaning for matching; emoji neither.
_PUNCT_RE = re.compile(r"[\s\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
                       r"!-/:-@\[-`{-~…—·•“”‘’、\U0001F000-\U0001FFFF]+")
# Chat filler that tells nothing about which answer is wanted. Removed only at the
# edges/as whole particles so "请问" in the middle of a real phrase survives.
_FILLERS = (
    "你好", "您好", "在吗", "在不在", "请问一下", "请问", "问一下", "问下", "打扰一下",
    "麻烦问一下", "麻烦问下", "麻烦", "谢谢", "谢谢你", "多谢", "我想问", "想问一下", "想问",
    "咨询一下", "咨询下", "小助手", "客服",
)
_FILLER_RE = re.compile("|".join(sorted(map(re.escape, _FILLERS), key=len, reverse=True)))
_PARTICLE_RE = re.compile(r"[啊呀吧呢嘛哈哦噢呗咧啦喽嘞]+")

_jieba_lock = threading.RLock()
_tokenizer: jieba.Tokenizer | None = None


def fold_width(text: str) -> str:
    """Full-width letters/digits to ASCII, lower case (NFKC does both for CJK text)."""
    return unicodedata.normalize("NFKC", text).lower()


@lru_cache(maxsize=4)
def load_synonyms(path: str = str(SYNONYMS_PATH)) -> tuple[tuple[str, str], ...]:
    """Read ``variant<TAB>canonical`` pairs, longest variant first so rewriting is greedy.

    A missing file is not an error: the matcher still works, only less forgiving.
    """
    p = Path(path)
    if not p.exists():
        return ()
    pairs: list[tuple[str, str]] = []
    for line in p.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            continue
        canonical = fold_width(parts[0].strip())
        for variant in parts[1:]:
            for v in variant.split("|"):
                v = fold_width(v.strip())
                if v and v != canonical:
                    pairs.append((v, canonical))
    pairs.sort(key=lambda kv: len(kv[0]), reverse=True)
    return tuple(pairs)


@lru_cache(maxsize=4)
def _synonym_regex(pairs: tuple[tuple[str, str], ...]) -> tuple[re.Pattern[str], dict[str, str]] | None:
    if not pairs:
        return None
    mapping = dict(pairs)
    pattern = re.compile("|".join(re.escape(v) for v, _ in pairs))
    return pattern, mapping


def normalise(text: str, synonyms: tuple[tuple[str, str], ...] | None = None) -> str:
    """Canonical form used for every feature: folded, synonym-rewritten, without filler.

    Args:
        text: Raw customer or staff text.
        synonyms: ``(variant, canonical)`` pairs; defaults to ``nlu_data/faq/synonyms.tsv``.

    Returns:
        The normalised text; may be empty for pure greetings or punctuation.
    """
    t = fold_width(text)
    t = _PUNCT_RE.sub("", t)
    stripped = _FILLER_RE.sub("", t)
    stripped = _PARTICLE_RE.sub("", stripped)
    # Keep the original if stripping fillers ate everything (the question *is* "你好").
    t = stripped or t
    compiled = _synonym_regex(load_synonyms() if synonyms is None else synonyms)
    if compiled is not None:
        pattern, mapping = compiled
        t = pattern.sub(lambda m: mapping[m.group(0)], t)
    return t


def _get_tokenizer() -> jieba.Tokenizer:
    """A private jieba tokenizer with the bank dictionary (if present), built once."""
    global _tokenizer
    if _tokenizer is None:
        with _jieba_lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                tk = jieba.Tokenizer()
                tk.initialize()
                if USERDICT_PATH.exists():
                    # Pass an open file: jieba leaves files it opens itself unclosed.
                    with USERDICT_PATH.open("rb") as fh:
                        tk.load_userdict(fh)
                for canonical in {c for _, c in load_synonyms()}:
                    # Canonical synonym targets are domain words: keep them whole.
                    if len(canonical) > 1:
                        tk.add_word(canonical, freq=2000)
                _tokenizer = tk
    return _tokenizer


def words(normalised: str) -> list[str]:
    """jieba words of already-normalised text."""
    with _jieba_lock:  # jieba's Tokenizer is not documented as thread-safe
        return [w for w in _get_tokenizer().lcut(normalised) if w.strip()]


def pinyin(normalised: str) -> list[str]:
    """Toneless pinyin syllables: makes homophone typos (挂时/挂失) look identical."""
    return lazy_pinyin(normalised, style=Style.NORMAL, errors="default")


def unique(items: Iterable[str]) -> list[str]:
    """Order-preserving de-duplication."""
    return list(dict.fromkeys(items))
