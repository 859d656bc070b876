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

from core.chinese import to_simplified

REPO_ROOT = Path(__file__).resolve().parent.parent
USERDICT_PATH = REPO_ROOT / "nlu_data" / "jieba" / "userdict.txt"
SYNONYMS_PATH = REPO_ROOT / "nlu_data" / "faq" / "synonyms.tsv"
CONCEPTS_PATH = REPO_ROOT / "nlu_data" / "faq" / "concepts.tsv"

# Punctuation and whitespace carry no meaning for matching; emoji neither.
_PUNCT_RE = re.compile(
    r"[\s\u3000-\u303f\uff00-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
    r"!-/:-@\[-`{-~…—·•“”‘’、\U0001F000-\U0001FFFF]+"
)
# Chat filler that tells nothing about which answer is wanted; removed only at the edges.
_FILLERS = (
    "你好",
    "您好",
    "在吗",
    "在不在",
    "请问一下",
    "请问",
    "问一下",
    "问下",
    "打扰一下",
    "麻烦问一下",
    "麻烦问下",
    "麻烦",
    "谢谢",
    "谢谢你",
    "多谢",
    "我想问",
    "想问一下",
    "想问",
    "咨询一下",
    "咨询下",
)
_FILLER_ALT = "|".join(sorted(map(re.escape, _FILLERS), key=len, reverse=True))
_LEAD_FILLER_RE = re.compile(f"^(?:{_FILLER_ALT})+")
_TRAIL_FILLER_RE = re.compile(f"(?:{_FILLER_ALT})+$")
_PARTICLE_RE = re.compile(r"[啊呀吧呢嘛哈哦噢呗咧啦喽嘞]+")

_jieba_lock = threading.RLock()
_tokenizer: jieba.Tokenizer | None = None


def fold_width(text: str) -> str:
    """Simplified script, full-width letters/digits to ASCII, lower case (NFKC does both for CJK text)."""
    return unicodedata.normalize("NFKC", to_simplified(text)).lower()


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
def load_concepts(path: str = str(CONCEPTS_PATH)) -> tuple[re.Pattern[str], dict[str, tuple[str, ...]]] | None:
    """Read ``concept<TAB>word|word|...`` lines into one longest-first regex and word -> concepts.

    A word may belong to several concepts. A missing or empty file is not an error.
    """
    p = Path(path)
    if not p.exists():
        return None
    owners: dict[str, list[str]] = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        concept, _, members = line.partition("\t")
        concept = concept.strip()
        for w in members.split("|"):
            w = fold_width(w.strip())
            if len(w) >= 2 and concept and concept not in owners.setdefault(w, []):
                owners[w].append(concept)
    if not owners:
        return None
    pattern = re.compile("|".join(re.escape(w) for w in sorted(owners, key=len, reverse=True)))
    return pattern, {w: tuple(c) for w, c in owners.items()}


def concepts(*texts: str) -> tuple[str, ...]:
    """Concepts (see ``concepts.tsv``) whose words occur in any of ``texts``, sorted."""
    loaded = load_concepts()
    if loaded is None:
        return ()
    pattern, owners = loaded
    found = {c for t in texts for m in pattern.finditer(t) for c in owners[m.group(0)]}
    return tuple(sorted(found))


def strip_chatter(text: str) -> str:
    """Folded text without punctuation, leading/trailing chat filler and modal particles.

    Fillers go only at the edges ("请问…", "…谢谢"): inside a question "客服" or "麻烦" can be
    the very word that tells two answers apart (冒充客服退款 vs 转人工客服).
    """
    t = _PUNCT_RE.sub("", fold_width(text))
    stripped = _PARTICLE_RE.sub("", t)
    while True:
        before = stripped
        stripped = _LEAD_FILLER_RE.sub("", _TRAIL_FILLER_RE.sub("", stripped))
        if stripped == before:
            break
    # Keep the original if stripping ate everything (the question *is* "你好").
    return stripped or t


@lru_cache(maxsize=4)
def _variant_map(pairs: tuple[tuple[str, str], ...]) -> tuple[dict[str, str], int]:
    return dict(pairs), max(len(v) for v, _ in pairs)


def _rewrite(tokens: list[str], mapping: dict[str, str], longest: int) -> list[str]:
    """Replace runs of whole jieba tokens that spell a synonym variant by its canonical form.

    Matching whole tokens (not substrings) keeps a variant from being found across a word
    boundary: "账单" must not fire inside "转账/单笔", nor "行吗" inside "开户行/吗".
    """
    out: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        for j in range(min(n, i + longest), i, -1):
            canonical = mapping.get("".join(tokens[i:j]))
            if canonical is not None:
                out.append(canonical)
                i = j
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def analyse(
    text: str, synonyms: tuple[tuple[str, str], ...] | None = None
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """Normalised text and its words: folded, without filler, synonym-rewritten on whole words.

    One jieba pass serves both: the rewritten tokens are the words (a canonical synonym stays
    one word), and their concatenation is the text the char n-grams are taken from. Concepts
    are looked up in the text before and after rewriting.

    Returns:
        ``(normalised text, words, concepts)``.

    Args:
        text: Raw customer or staff text.
        synonyms: ``(variant, canonical)`` pairs; defaults to ``nlu_data/faq/synonyms.tsv``.
    """
    t = strip_chatter(text)
    if not t:
        return t, (), ()
    pairs = load_synonyms() if synonyms is None else synonyms
    with _jieba_lock:
        tokens = [w for w in _get_tokenizer().lcut(t) if w.strip()]
    if pairs:
        mapping, longest = _variant_map(pairs)
        tokens = _rewrite(tokens, mapping, longest)
    norm = "".join(tokens)
    return norm, tuple(tokens), concepts(t, norm)


def normalise(text: str, synonyms: tuple[tuple[str, str], ...] | None = None) -> str:
    """Canonical form used for every feature (see :func:`analyse`); may be empty."""
    return analyse(text, synonyms)[0]


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


# Fuzzy pinyin, as Chinese input methods offer it: many speakers do not separate zh/z, ch/c,
# sh/s, n/l or -ng/-n, so they pick the wrong character from the candidate list (手机迎行).
_FUZZY_INITIAL = re.compile(r"^(zh|ch|sh|l)")
_FUZZY_INITIALS = {"zh": "z", "ch": "c", "sh": "s", "l": "n"}
_FUZZY_FINAL = re.compile(r"(?<=[aei])ng$")


def fuzzy(syllable: str) -> str:
    """A pinyin syllable with the distinctions input methods call "fuzzy" merged."""
    s = _FUZZY_INITIAL.sub(lambda m: _FUZZY_INITIALS[m.group(1)], syllable)
    return _FUZZY_FINAL.sub("n", s)


def pinyin(normalised: str) -> list[str]:
    """Toneless fuzzy pinyin syllables: homophone and near-homophone typos (挂时/挂失, 迎行/银行)
    look identical."""
    return [fuzzy(s) for s in lazy_pinyin(normalised, style=Style.NORMAL, errors="default")]


def unique(items: Iterable[str]) -> list[str]:
    """Order-preserving de-duplication."""
    return list(dict.fromkeys(items))
