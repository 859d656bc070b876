"""The per-point linear SVM (faq/svm.py): exact for small KBs, negative-sampled for large ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from faq.features import prepare
from faq.io import read_knowledge_file
from faq.matcher import MatcherConfig, _dedupe
from faq.svm import fit_one_vs_rest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_rows() -> tuple[sp.csr_matrix, np.ndarray, int]:
    """The demo KB's questions as feature rows, with each row's point index."""
    drafts = read_knowledge_file(ROOT / "nlu_data" / "faq" / "knowledge_base.tsv")
    raw, labels = [], []
    for i, d in enumerate(drafts):
        for q in (d.standard_question, *d.similar_questions):
            raw.append(q)
            labels.append(i)
    texts, y, _ = _dedupe([prepare(q) for q in raw], labels)
    space = MatcherConfig().space().fit(texts)
    return space.transform(texts), y, len(drafts)


def _split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every fourth question of each point held out, the rest for training."""
    position = np.zeros(len(y), np.int64)
    seen: dict[int, int] = {}
    for row, label in enumerate(y.tolist()):
        position[row] = seen.get(label, 0)
        seen[label] = position[row] + 1
    held = position % 4 == 3
    return np.flatnonzero(~held), np.flatnonzero(held)


def _top1(model: tuple[np.ndarray, np.ndarray], x: sp.csr_matrix) -> np.ndarray:
    coef_t, intercept = model
    return np.asarray(x @ coef_t + intercept).argmax(axis=1)


def test_sampled_problems_rank_held_out_questions_as_well_as_exact(
    demo_rows: tuple[sp.csr_matrix, np.ndarray, int],
) -> None:
    x, y, n_points = demo_rows
    train, held = _split(y)
    exact = fit_one_vs_rest(x[train], y[train], n_points, 3.0, exact_budget=10**12)
    # A few neighbours and a small random sample: each problem sees a fraction of the questions.
    sampled = fit_one_vs_rest(x[train], y[train], n_points, 3.0, exact_budget=0, neighbours=8, sample=200)
    assert exact is not None and sampled is not None
    exact_acc = float((_top1(exact, x[held]) == y[held]).mean())
    sampled_acc = float((_top1(sampled, x[held]) == y[held]).mean())
    assert exact_acc > 0.8
    assert sampled_acc >= exact_acc - 0.02, (sampled_acc, exact_acc)


def test_sampled_fit_is_reproducible(demo_rows: tuple[sp.csr_matrix, np.ndarray, int]) -> None:
    x, y, n_points = demo_rows
    first = fit_one_vs_rest(x, y, n_points, 3.0, exact_budget=0, neighbours=4, sample=100)
    second = fit_one_vs_rest(x, y, n_points, 3.0, exact_budget=0, neighbours=4, sample=100)
    assert first is not None and second is not None
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


@pytest.mark.parametrize("budget", [0, 10**12])
def test_points_without_questions_never_win(budget: int) -> None:
    # Points 0 and 2 have questions; point 1 (all its questions held out, say) has none.
    x = sp.csr_matrix(np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1]], dtype=np.float32))
    y = np.array([0, 0, 2, 2])
    model = fit_one_vs_rest(x, y, 3, 1.0, exact_budget=budget)
    assert model is not None
    coef_t, intercept = model
    assert not coef_t[:, 1].any() and intercept[1] == -1.0
    assert _top1(model, x).tolist() == [0, 0, 2, 2]


def test_one_point_has_nothing_to_separate() -> None:
    x = sp.csr_matrix(np.eye(2, dtype=np.float32))
    assert fit_one_vs_rest(x, np.array([0, 0]), 1, 1.0) is None
