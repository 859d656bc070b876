"""Thresholds from cross-validation on the knowledge base itself (never guessed, never the held-out set).

Method (stored with the result in :class:`Thresholds.method`): K folds. In fold k, the points of
group k are removed entirely — their questions stand in for customer questions the KB cannot
answer ("out of KB") — and every k-th question of the remaining points is held out ("in KB").
The matcher is rebuilt on the rest and scores both sets. Then:

* ``high`` = the lowest score at which answering directly is right at least ``target_precision``
  of the time, counting out-of-KB questions as wrong, weighted to an assumed share
  ``oos_share`` of customer traffic;
* ``low`` = the score down to which offering the top 3 choices helps more often than not
  (expected utility over the same traffic mix; see :func:`_grey_zone_floor`). Below it the
  bot says it is not sure and offers a human; between the two it offers the top 3.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from faq.matcher import FaqMatcher, IndexedPoint, MatcherConfig, _dedupe, prepare, rerank, resolve_encoder
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


def cross_val_scores(
    points: Sequence[IndexedPoint],
    folds: int = 3,
    config: MatcherConfig | None = None,
    seed: int = 7,
    encoder: Encoder | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cross-validated (in-KB top1 score, in-KB top1 correct, in-KB top3 correct, out-of-KB top1 score).

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
    # Per fold: (held top, held features, held truth, out-of-KB top, out-of-KB features).
    cand: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
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
                )
            )
            continue
        if held_row.any():
            top, score = matcher.rank_rows(x[held_row], 3, qv=qv(held_row))
            in_score.extend(score[:, 0].tolist())
            in_top1.extend((top[:, 0] == truth).tolist())
            in_top3.extend((top == truth[:, None]).any(axis=1).tolist())
        if oos_row.any():
            oos_score.extend(matcher.rank_rows(x[oos_row], 1, qv=qv(oos_row))[1][:, 0].tolist())
    for k, (top, feats, truth, oos_top, oos_feats) in enumerate(cand):
        others = [c for j, c in enumerate(cand) if j != k]
        model = train_reranker(
            [c[1] for c in others], [c[0] == c[2][:, None] for c in others], config.rerank_k, config.rerank_c
        )
        if model is None:  # what the matcher does without a re-ranker: the ensemble's order
            top3, score = top[:, :3], feats[:, :3, 0]
            oos = oos_feats[:, :1, 0]
        else:
            top3, score = rerank(top, feats, model, 3)
            oos = rerank(oos_top, oos_feats, model, 1)[1]
        in_score.extend(score[:, 0].tolist())
        in_top1.extend((top3[:, 0] == truth).tolist())
        in_top3.extend((top3 == truth[:, None]).any(axis=1).tolist())
        oos_score.extend(oos[:, 0].tolist())
    return np.array(in_score), np.array(in_top1, bool), np.array(in_top3, bool), np.array(oos_score)


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
) -> tuple[float, float, dict[str, float]]:
    """Pick (high, low) from cross-validated scores; see the module docstring."""
    candidates = np.unique(np.r_[in_score, oos_score, 0.0, 1.0])
    n_in, n_oos = max(len(in_score), 1), max(len(oos_score), 1)
    high = 1.0
    prec_at_high = 1.0
    for t in candidates:  # ascending: first t meeting the target is the most helpful
        frac_in = (in_score >= t).mean() if len(in_score) else 0.0
        right = (in_top1 & (in_score >= t)).sum() / n_in
        wrong_in = frac_in - right
        wrong_oos = (oos_score >= t).sum() / n_oos
        answered = (1 - oos_share) * frac_in + oos_share * wrong_oos
        if answered <= 0:
            continue
        precision = (1 - oos_share) * right / answered
        if precision >= target_precision:
            high, prec_at_high = float(t), float(precision)
            break
        del wrong_in
    low = _grey_zone_floor(in_score, in_top3, oos_score, high, oos_share, choice_cost)
    pos = in_score[in_top3] if len(in_score) else np.array([])
    stats = {
        "precision_at_high": round(prec_at_high, 4),
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
) -> Thresholds:
    """Run the cross-validation and return thresholds with a record of how they were made."""
    encoder = resolve_encoder(config or MatcherConfig(), encoder)
    vectors = encoder.name if encoder is not None else None  # which index these thresholds fit
    if len(points) < folds + 1:
        reason = "too few knowledge points to cross-validate"
        return Thresholds(method={"kind": "default", "reason": reason, "sentence_vectors": vectors})
    in_score, in_top1, in_top3, oos_score = cross_val_scores(points, folds, config, encoder=encoder)
    high, low, stats = choose_thresholds(in_score, in_top1, in_top3, oos_score, target_precision, oos_share)
    method = {
        "kind": "cross_validation",
        "folds": folds,
        "target_precision": target_precision,
        "oos_share": oos_share,
        "n_in_kb": int(len(in_score)),
        "n_out_of_kb": int(len(oos_score)),
        "n_points": len(points),
        "sentence_vectors": vectors,
        "computed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **stats,
    }
    return Thresholds(high=high, low=low, method=method)
