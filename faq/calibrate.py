"""Thresholds from cross-validation on the knowledge base itself (never guessed, never the held-out set).

Method (stored with the result in :class:`Thresholds.method`): K folds. In fold k, the points of
group k are removed entirely — their questions stand in for customer questions the KB cannot
answer ("out of KB") — and every k-th question of the remaining points is held out ("in KB").
The matcher is rebuilt on the rest and scores both sets, and the far out-of-KB questions shipped
with the code (:mod:`faq.negatives`). Out-of-KB traffic is taken as ``near_share`` near questions
(the removed points': neighbours of kept siblings, the hardest case) and the rest far ones (what
the FAQ does not cover at all): with near ones only, a bank's unanswerable questions looked far
more dangerous than they are (another bank's KB: 45 % of the stand-ins score >= 0.2, 5 % of its
customers' unanswerable questions). Then:

* ``high`` and ``margin``: the bot answers directly when the best score is at least ``high`` and
  leads the second best by at least ``margin``. For each margin of a small grid, the lowest
  ``high`` at which answering is right at least ``target_precision`` of the time (out-of-KB
  questions counted as wrong, weighted to an assumed share ``oos_share`` of customer traffic);
  the pair that answers the most in-KB questions rightly wins. A margin lets ``high`` drop where
  the errors are near siblings (two entries of one product, one card's 挂失 vs another's): such a
  question, or an out-of-KB one between two siblings, gets the choice between them instead of a
  wrong answer, so a clear winner need not clear the bar that the ambiguous cases set;
* ``low`` = the score down to which offering the top 3 choices helps more often than not
  (expected utility over the same traffic mix; see :func:`_grey_zone_floor`). Below it the
  bot says it is not sure and offers a human; between the two it offers the top 3.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from faq.matcher import FaqMatcher, IndexedPoint, MatcherConfig, _dedupe, prepare, rerank, resolve_encoder
from faq.negatives import FAR_OUT_OF_KB
from faq.rerank import train_reranker
from faq.semantic import Encoder, kb_vectors, sentence_text

DEFAULT_HIGH = 0.62  # used only before any calibration ran (e.g. a KB with one point)
DEFAULT_LOW = 0.35


@dataclass(frozen=True)
class Thresholds:
    """Calibrated decision thresholds and how they were obtained."""

    high: float = DEFAULT_HIGH
    low: float = DEFAULT_LOW
    method: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def margin(self) -> float:
        """How far the best score must lead the second for a direct answer (0 before calibration
        chose one, and for thresholds stored before it did)."""
        return float(self.method.get("answer_margin", 0.0))


_NO_CANDIDATES = (np.zeros((0, 1), np.int64), np.zeros((0, 1, 1)))


class CvScores(NamedTuple):
    """Cross-validated scores: of in-KB questions (best score, best right, right among the top 3),
    of near out-of-KB ones (removed points' questions) and of far ones (:data:`FAR_OUT_OF_KB`);
    ``*_gap`` is how far each best score leads the second."""

    in_score: np.ndarray
    in_top1: np.ndarray
    in_top3: np.ndarray
    oos_score: np.ndarray
    in_gap: np.ndarray
    oos_gap: np.ndarray
    far_score: np.ndarray
    far_gap: np.ndarray


def cross_val_scores(
    points: Sequence[IndexedPoint],
    folds: int = 3,
    config: MatcherConfig | None = None,
    seed: int = 7,
    encoder: Encoder | None = None,
    far: Sequence[str] = FAR_OUT_OF_KB,
) -> CvScores:
    """Cross-validated scores (:class:`CvScores`); ``far`` are asked of every fold's matcher.

    Every question is prepared and vectorised once, in one feature space fitted on the whole KB
    (idf barely moves between folds); each fold only selects rows and refits the classifier
    over the points it keeps, which is what makes calibrating a 15k-question KB affordable.
    """
    config = config or MatcherConfig()
    rng = np.random.default_rng(seed)
    group = rng.permutation(len(points)) % folds
    raw: list[str] = []
    labels: list[int] = []
    for idx, point in enumerate(points):
        for q in point.questions:
            raw.append(q)
            labels.append(idx)
    texts, label_arr, kept = _dedupe([prepare(q) for q in raw], labels)
    space = config.space().fit(texts)
    x = space.transform(texts)
    encoder = resolve_encoder(config, encoder)
    vec = kb_vectors(encoder, [sentence_text(raw[i]) for i in kept]) if encoder is not None else None
    x_far = space.transform([prepare(q) for q in far])
    vec_far = kb_vectors(encoder, [sentence_text(q) for q in far]) if encoder is not None and far else None
    # Position of each row among its point's rows, rotated per point, decides its in-KB fold.
    position = np.zeros(len(label_arr), dtype=np.int64)
    counts = np.bincount(label_arr, minlength=len(points))
    offset = rng.integers(folds, size=len(points))
    seen = np.zeros(len(points), dtype=np.int64)
    for row, lab in enumerate(label_arr):
        position[row] = seen[lab] + offset[lab]
        seen[lab] += 1
    in_score: list[float] = []
    in_top1: list[bool] = []
    in_top3: list[bool] = []
    oos_score: list[float] = []
    in_gap: list[float] = []
    oos_gap: list[float] = []
    far_score: list[float] = []
    far_gap: list[float] = []
    # Per fold: (held top, held features, held truth, out-of-KB top, out-of-KB features, far top, far features).
    cand: list[tuple[np.ndarray, ...]] = []
    for k in range(folds):
        keep = np.flatnonzero(group != k)
        if len(keep) == 0:
            continue
        new_index = np.full(len(points), -1)
        new_index[keep] = np.arange(len(keep))
        kept_row = group[label_arr] != k
        held_row = kept_row & (position % folds == 0) & (counts[label_arr] >= 2)
        train_row = kept_row & ~held_row
        if not train_row.any():
            continue
        matcher = FaqMatcher.from_rows(
            [points[int(i)] for i in keep],
            space,
            x[train_row],
            new_index[label_arr[train_row]],
            config,
            vectors=None if vec is None else vec[train_row],
            encoder=None if vec is None else encoder,
        )
        truth = new_index[label_arr[held_row]]
        oos_row = ~kept_row

        def qv(rows: np.ndarray) -> np.ndarray | None:
            return None if vec is None else vec[rows]

        if config.rerank:
            # The re-ranker is applied below, trained on the other folds' questions (cross-fitting).
            cand.append(
                (
                    *matcher.candidates(x[held_row], qv=qv(held_row)),
                    truth,
                    *matcher.candidates(x[oos_row], qv=qv(oos_row)),
                    *(matcher.candidates(x_far, qv=vec_far) if len(far) else _NO_CANDIDATES),
                )
            )
            continue
        if len(far):
            far_top2 = matcher.rank_rows(x_far, 2, qv=vec_far)[1]
            far_score.extend(far_top2[:, 0].tolist())
            far_gap.extend(_lead(far_top2).tolist())
        if held_row.any():
            top, score = matcher.rank_rows(x[held_row], 3, qv=qv(held_row))
            in_score.extend(score[:, 0].tolist())
            in_gap.extend(_lead(score).tolist())
            in_top1.extend((top[:, 0] == truth).tolist())
            in_top3.extend((top == truth[:, None]).any(axis=1).tolist())
        if oos_row.any():
            oos = matcher.rank_rows(x[oos_row], 2, qv=qv(oos_row))[1]
            oos_score.extend(oos[:, 0].tolist())
            oos_gap.extend(_lead(oos).tolist())
    for k, (top, feats, truth, oos_top, oos_feats, far_top, far_feats) in enumerate(cand):
        others = [c for j, c in enumerate(cand) if j != k]
        model = train_reranker(
            [c[1] for c in others], [c[0] == c[2][:, None] for c in others], config.rerank_k, config.rerank_c
        )
        if model is None:  # what the matcher does without a re-ranker: the ensemble's order
            top3, score = top[:, :3], feats[:, :3, 0]
            oos = oos_feats[:, :2, 0]
            far2 = far_feats[:, :2, 0]
        elif not len(far_top):
            far2 = np.zeros((0, 1))
        else:
            top3, score = rerank(top, feats, model, 3)
            oos = rerank(oos_top, oos_feats, model, 2)[1]
            far2 = rerank(far_top, far_feats, model, 2)[1]
        far_score.extend(far2[:, 0].tolist())
        far_gap.extend(_lead(far2).tolist())
        in_score.extend(score[:, 0].tolist())
        in_gap.extend(_lead(score).tolist())
        oos_gap.extend(_lead(oos).tolist())
        in_top1.extend((top3[:, 0] == truth).tolist())
        in_top3.extend((top3 == truth[:, None]).any(axis=1).tolist())
        oos_score.extend(oos[:, 0].tolist())
    return CvScores(
        np.array(in_score),
        np.array(in_top1, bool),
        np.array(in_top3, bool),
        np.array(oos_score),
        np.array(in_gap),
        np.array(oos_gap),
        np.array(far_score),
        np.array(far_gap),
    )


def _lead(scores: np.ndarray) -> np.ndarray:
    """How far each row's best score leads its second (the best score itself if there is none)."""
    if scores.shape[1] < 2:
        return scores[:, 0].copy()
    return scores[:, 0] - scores[:, 1]


MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)  # leads of the best over the second tried for ``margin``


def _lowest_high(
    in_score: np.ndarray,
    in_top1: np.ndarray,
    oos_score: np.ndarray,
    target_precision: float,
    oos_share: float,
    far_score: np.ndarray | None = None,
    near_share: float = 1.0,
) -> tuple[float, float]:
    """The lowest score at which answering is right at least ``target_precision`` of the time
    (out-of-KB questions counted as wrong at the traffic share ``oos_share``, of which
    ``near_share`` near ones, ``oos_score``, and the rest far ones, ``far_score``), and that
    precision. Rows not allowed to be answered (lead below the margin) come with score -1."""
    n_in, n_oos = max(len(in_score), 1), max(len(oos_score), 1)
    if far_score is None or not len(far_score):
        far_score, near_share = np.zeros(0), 1.0
    n_far = max(len(far_score), 1)
    for t in np.unique(np.r_[in_score, oos_score, far_score, 0.0, 1.0]):  # ascending: first t meeting the target
        if t < 0:
            continue
        right = (in_top1 & (in_score >= t)).sum() / n_in
        frac_in = (in_score >= t).sum() / n_in
        wrong_oos = near_share * (oos_score >= t).sum() / n_oos + (1 - near_share) * (far_score >= t).sum() / n_far
        answered = (1 - oos_share) * frac_in + oos_share * wrong_oos
        if answered <= 0:
            continue
        precision = (1 - oos_share) * right / answered
        if precision >= target_precision:
            return float(t), float(precision)
    return 1.0, 1.0


def _grey_zone_floor(
    in_score: np.ndarray,
    in_top3: np.ndarray,
    oos_score: np.ndarray,
    high: float,
    oos_share: float,
    choice_cost: float,
) -> float:
    """The ``low`` threshold: extend the grey zone below ``high`` while offering choices helps.

    A question scored in ``[t, high)`` gets three choices. That helps (+1) when it is in the KB
    and its answer is among them, and costs ``choice_cost`` otherwise (wrong choices or an
    out-of-KB question), weighted to the traffic mix. ``low`` maximises the expected utility
    of the zone. Unlike Youden's J on a capped range (which collapsed to ``high`` on big KBs
    whose in-KB scores sit almost all above ``high``), the zone is empty only when offering
    choices just below ``high`` is more often useless than useful.
    """
    n_in, n_oos = max(len(in_score), 1), max(len(oos_score), 1)
    below_in = in_score < high
    helpful = np.sort(in_score[below_in & in_top3])[::-1]
    useless_in = np.sort(in_score[below_in & ~in_top3])[::-1]
    useless_oos = np.sort(oos_score[oos_score < high])[::-1]
    best_t, best_u = high, 0.0
    for t in np.unique(np.r_[helpful, useless_in, useless_oos])[::-1]:  # descending from high
        # Count of each kind with score >= t via binary search on the descending arrays.
        h = np.searchsorted(-helpful, -t, side="right") / n_in
        ui = np.searchsorted(-useless_in, -t, side="right") / n_in
        uo = np.searchsorted(-useless_oos, -t, side="right") / n_oos
        u = (1 - oos_share) * (h - choice_cost * ui) - oos_share * choice_cost * uo
        if u > best_u:
            best_t, best_u = float(t), float(u)
    return best_t


def choose_thresholds(
    in_score: np.ndarray,
    in_top1: np.ndarray,
    in_top3: np.ndarray,
    oos_score: np.ndarray,
    target_precision: float = 0.95,
    oos_share: float = 0.2,
    choice_cost: float = 1.0,
    in_gap: np.ndarray | None = None,
    oos_gap: np.ndarray | None = None,
    far_score: np.ndarray | None = None,
    far_gap: np.ndarray | None = None,
    near_share: float = 0.5,
) -> tuple[float, float, dict[str, float]]:
    """Pick (high, low) from cross-validated scores; see the module docstring. With the leads of
    the best score over the second (``in_gap``, ``oos_gap``, ``far_gap``), a ``margin`` is chosen
    too and returned in the stats (0.0 without them: the best score alone decides). With
    ``far_score`` the out-of-KB traffic is ``near_share`` near and the rest far questions."""
    gaps = in_gap is not None and oos_gap is not None and (far_score is None or far_gap is not None)
    best: tuple[float, float, float, float] | None = None  # (right share, -margin, high, precision)
    for margin in MARGINS if gaps else (0.0,):
        ins = in_score if in_gap is None else np.where(in_gap >= margin, in_score, -1.0)
        oos = oos_score if oos_gap is None else np.where(oos_gap >= margin, oos_score, -1.0)
        far = far_score if far_score is None or far_gap is None else np.where(far_gap >= margin, far_score, -1.0)
        t, precision = _lowest_high(ins, in_top1, oos, target_precision, oos_share, far, near_share)
        right = float((in_top1 & (ins >= t)).mean()) if len(ins) else 0.0
        if best is None or (right, -margin) > best[:2]:
            best = (right, -margin, t, precision)
    assert best is not None
    margin, high, prec_at_high = -best[1], best[2], best[3]
    low = _grey_zone_floor(in_score, in_top3, oos_score, high, oos_share, choice_cost)
    pos = in_score[in_top3] if len(in_score) else np.array([])
    stats = {
        "precision_at_high": round(prec_at_high, 4),
        "answer_margin": round(margin, 4),
        "answered_share_in_kb": round(float((in_score >= high).mean()) if len(in_score) else 0.0, 4),
        "in_kb_kept_at_low": round(float((pos >= low).mean()) if len(pos) else 0.0, 4),
        "out_of_kb_rejected_at_low": round(float((oos_score < low).mean()) if len(oos_score) else 0.0, 4),
        "cv_top1": round(float(in_top1.mean()) if len(in_top1) else 0.0, 4),
        "cv_top3": round(float(in_top3.mean()) if len(in_top3) else 0.0, 4),
    }
    return round(high, 4), round(low, 4), stats


def calibrate(
    points: Sequence[IndexedPoint],
    config: MatcherConfig | None = None,
    folds: int = 3,
    target_precision: float = 0.95,
    oos_share: float = 0.2,
    encoder: Encoder | None = None,
    near_share: float = 0.5,
) -> Thresholds:
    """Run the cross-validation and return thresholds with a record of how they were made."""
    encoder = resolve_encoder(config or MatcherConfig(), encoder)
    vectors = encoder.name if encoder is not None else None  # which index these thresholds fit
    if len(points) < folds + 1:
        reason = "too few knowledge points to cross-validate"
        return Thresholds(method={"kind": "default", "reason": reason, "sentence_vectors": vectors})
    cv = cross_val_scores(points, folds, config, encoder=encoder)
    in_score = cv.in_score
    high, low, stats = choose_thresholds(
        cv.in_score,
        cv.in_top1,
        cv.in_top3,
        cv.oos_score,
        target_precision,
        oos_share,
        in_gap=cv.in_gap,
        oos_gap=cv.oos_gap,
        far_score=cv.far_score,
        far_gap=cv.far_gap,
        near_share=near_share,
    )
    method = {
        "kind": "cross_validation",
        "folds": folds,
        "target_precision": target_precision,
        "oos_share": oos_share,
        "near_share": near_share,
        "n_far_out_of_kb": int(len(cv.far_score)),
        "n_in_kb": int(len(in_score)),
        "n_out_of_kb": int(len(cv.oos_score)),
        "n_points": len(points),
        "sentence_vectors": vectors,
        "computed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **stats,
    }
    return Thresholds(high=high, low=low, method=method)
