"""Static checks on the NLU training data, the held-out test set and the catalogue.

These run under the app venv (no Rasa needed): they parse the YAML the way the
Rasa 3.x reader does for the parts we rely on (intent examples and inline
``[text](entity)`` annotations) and fail on the mistakes that silently make a
model worse: missing or thin intents, test sentences leaking into training,
undeclared entities and broken regexes.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
NLU_DIR = ROOT / "nlu_data"
TEST_FILE = ROOT / "tests" / "nlu" / "test.yml"
DOMAIN_FILE = ROOT / "bot" / "domain" / "nlu.yml"
TOWNS_FILE = NLU_DIR / "lookups" / "towns.txt"
USERDICT = NLU_DIR / "jieba" / "userdict.txt"

CATALOGUE = (
    "check_balance check_transactions check_loan check_deposit check_points report_loss "
    "bind_account book_appointment complain check_ticket request_human unsubscribe subscribe "
    "ask_deposit_rate ask_loan_product ask_wealth_product ask_branch faq greet goodbye thank "
    "affirm deny bot_challenge rate_service inform out_of_scope cancel transfer_money chitchat_ack my_appointment card_unclear"
).split()
ENTITIES = (
    "amount time_range date card_tail phone id_last6 otp_code product branch town service score"
).split()
MIN_TRAIN, MIN_TEST = 40, 10

# [text](entity) or [text]{"entity": ...}; we only use the first form.
ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<entity>[^)]+)\)")


def _training_files() -> list[Path]:
    # nlu_data/faq/ is the FAQ knowledge base, not Rasa training data.
    return sorted(p for p in NLU_DIR.glob("*.yml"))


def _load(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", [])


def _examples(items: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in items:
        if "intent" in item:
            lines = [ln.strip() for ln in item["examples"].splitlines()]
            out.setdefault(item["intent"], []).extend(ln[2:].strip() for ln in lines if ln.startswith("- "))
    return out


def _plain(example: str) -> str:
    return ANNOTATION.sub(lambda m: m.group("text"), example)


def _entities(example: str) -> list[tuple[str, str]]:
    return [(m.group("text"), m.group("entity").split(":")[0]) for m in ANNOTATION.finditer(example)]


@pytest.fixture(scope="module")
def train() -> dict[str, list[str]]:
    merged: dict[str, list[str]] = {}
    for path in _training_files():
        for intent, exs in _examples(_load(path)).items():
            merged.setdefault(intent, []).extend(exs)
    return merged


@pytest.fixture(scope="module")
def test_set() -> dict[str, list[str]]:
    return _examples(_load(TEST_FILE))


@pytest.fixture(scope="module")
def domain() -> dict:
    return yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))


def test_domain_declares_exactly_the_catalogue(domain: dict) -> None:
    assert set(domain) == {"version", "intents", "entities"}
    assert domain["intents"] == CATALOGUE
    assert set(ENTITIES) <= set(domain["entities"])


def test_training_intents_match_catalogue(train: dict[str, list[str]]) -> None:
    assert set(train) == set(CATALOGUE)


@pytest.mark.parametrize("intent", CATALOGUE)
def test_enough_training_examples(train: dict[str, list[str]], intent: str) -> None:
    distinct = set(map(_plain, train.get(intent, [])))
    assert len(distinct) >= MIN_TRAIN, f"{intent}: {len(distinct)} distinct training examples"


@pytest.mark.parametrize("intent", CATALOGUE)
def test_enough_test_examples(test_set: dict[str, list[str]], intent: str) -> None:
    assert len(set(map(_plain, test_set.get(intent, [])))) >= MIN_TEST


def test_no_test_sentence_in_training(train: dict[str, list[str]], test_set: dict[str, list[str]]) -> None:
    seen = {_plain(e) for exs in train.values() for e in exs}
    leaked = sorted(_plain(e) for exs in test_set.values() for e in exs if _plain(e) in seen)
    assert not leaked, f"held-out sentences found in training: {leaked}"


def test_no_sentence_under_two_intents(train: dict[str, list[str]]) -> None:
    owner: dict[str, str] = {}
    clashes = []
    for intent, exs in train.items():
        for e in map(_plain, exs):
            if owner.setdefault(e, intent) != intent:
                clashes.append((e, owner[e], intent))
    assert not clashes


def test_no_duplicate_examples_within_intent(train: dict[str, list[str]]) -> None:
    dupes = {i: [e for e, n in Counter(map(_plain, exs)).items() if n > 1] for i, exs in train.items()}
    assert not {i: d for i, d in dupes.items() if d}


def test_every_entity_used_is_declared(
    train: dict[str, list[str]], test_set: dict[str, list[str]], domain: dict
) -> None:
    used = {ent for src in (train, test_set) for exs in src.values() for e in exs for _, ent in _entities(e)}
    assert used, "no entity annotations found at all"
    assert used <= set(domain["entities"]), used - set(domain["entities"])


def _regexes() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in _training_files():
        for item in _load(path):
            if "regex" in item:
                out[item["regex"]] = [ln.strip()[2:] for ln in item["examples"].splitlines() if ln.strip()]
    return out


def test_regexes_compile_and_are_named_after_entities(domain: dict) -> None:
    regexes = _regexes()
    assert {"phone", "id_last6", "otp_code", "card_tail"} <= set(regexes)
    for name, patterns in regexes.items():
        assert name in domain["entities"]
        for p in patterns:
            re.compile(p)


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("phone", "我手机13812345678", ["13812345678"]),
        ("phone", "12345678901", []),  # mobile numbers start 13-19
        ("phone", "138123456789", []),  # 12 digits is not a phone
        ("id_last6", "后六位12001X", ["12001X"]),
        ("otp_code", "验证码385921", ["385921"]),
        ("otp_code", "13812345678", []),
        ("card_tail", "尾号8866那张", ["8866"]),
        ("card_tail", "验证码385921", []),
        ("card_tail", "13812345678", []),
    ],
)
def test_regex_shapes(name: str, text: str, expected: list[str]) -> None:
    matches = [m.group(0) for p in _regexes()[name] for m in re.finditer(p, text)]
    assert matches == expected


def test_annotated_values_fit_their_shape(
    train: dict[str, list[str]], test_set: dict[str, list[str]]
) -> None:
    shapes = {
        "phone": r"1[3-9]\d{9}",
        "id_last6": r"\d{5}[\dXx]",
        "otp_code": r"\d{6}",
        "card_tail": r"\d{4}",
    }
    bad = [
        (ent, text)
        for src in (train, test_set)
        for exs in src.values()
        for e in exs
        for text, ent in _entities(e)
        if ent in shapes and not re.fullmatch(shapes[ent], text)
    ]
    assert not bad


def test_town_lookup_matches_seed_file() -> None:
    towns = [ln.strip() for ln in TOWNS_FILE.read_text(encoding="utf-8").splitlines() if ln.strip()]
    assert len(towns) >= 40 and len(set(towns)) == len(towns)
    lookup = next(item for item in _load(NLU_DIR / "lookups.yml") if item.get("lookup") == "town")
    listed = [ln.strip()[2:] for ln in lookup["examples"].splitlines() if ln.strip()]
    assert listed == towns


def test_userdict_is_valid_jieba_format() -> None:
    for line in USERDICT.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        assert 1 <= len(parts) <= 3, line
        if len(parts) >= 2:
            assert parts[1].isdigit(), line
    words = {ln.split()[0] for ln in USERDICT.read_text(encoding="utf-8").splitlines() if ln.strip()}
    assert {"惠农贷", "大额存单", "定活两便", "助农取款", "社保卡", "挂失", "流水"} <= words
