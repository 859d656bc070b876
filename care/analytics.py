"""Model-based segments: RFM scores, k-means clusters with Chinese profiles, churn risk, product rules.

Pure functions over :class:`crm.segments.Features` lists, so they can be tested without a database.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from crm.segments import Features


def _quintile(values: np.ndarray) -> np.ndarray:
    """1..5 by rank (ties share the lower rank), robust to many equal values."""
    if len(values) == 0:
        return values.astype(int)
    ranks = np.searchsorted(np.sort(values), values, side="left") / max(1, len(values))
    return np.minimum(5, 1 + (ranks * 5).astype(int))


def rfm(features: Sequence[Features]) -> list[tuple[str, float]]:
    """("R5F3M4", total) per customer: recent, frequent, high-value customers score high."""
    recency = np.array([-f.recency_days for f in features], dtype=float)  # fewer days = better
    freq = np.array([f.txn_365d for f in features], dtype=float)
    money = np.array([f.aum + f.volume_365d for f in features], dtype=float)
    r, fq, m = _quintile(recency), _quintile(freq), _quintile(money)
    return [(f"R{a}F{b}M{c}", float(a + b + c)) for a, b, c in zip(r, fq, m, strict=True)]


def _matrix(features: Sequence[Features]) -> np.ndarray:
    return np.array(
        [
            [
                math.log1p(max(f.aum, 0.0)),
                math.log1p(f.txn_365d),
                math.log1p(f.recency_days),
                f.age,
                math.log1p(max(f.tenure_days, 0)),
                math.log1p(len(f.products)),
            ]
            for f in features
        ],
        dtype=float,
    )


@dataclass
class ClusterResult:
    labels: list[int]
    profiles: list[dict[str, Any]]


def clusters(features: Sequence[Features], k: int = 4, seed: int = 7) -> ClusterResult:
    """k-means on standardised log features, each cluster described in plain Chinese."""
    k = max(1, min(k, len(features)))
    x = (
        StandardScaler().fit_transform(_matrix(features))
        if len(features) > 1
        else np.zeros((len(features), 6))
    )
    labels = (
        KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
        if k > 1
        else np.zeros(len(features))
    )
    overall_aum = float(np.median([f.aum for f in features])) if features else 0.0
    profiles = []
    for cid in range(k):
        members = [f for f, lab in zip(features, labels, strict=True) if lab == cid]
        if not members:
            continue
        aum = float(np.median([f.aum for f in members]))
        txn = float(np.mean([f.txn_365d for f in members]))
        age = float(np.mean([f.age for f in members]))
        idle = float(np.median([f.recency_days for f in members]))
        occupation, n_occ = Counter(f.occupation for f in members).most_common(1)[0]
        level = "较高" if aum > overall_aum * 1.5 else ("较低" if aum < overall_aum / 1.5 else "中等")
        activity = "活跃" if idle <= 30 else ("一般" if idle <= 120 else "不活跃")
        text = (
            f"{len(members)}人，资产{level}（中位数{aum / 10000:.1f}万元），年均交易{txn:.0f}笔，"
            f"交易{activity}（中位{idle:.0f}天未交易），平均{age:.0f}岁，"
            f"以{occupation}为主（{n_occ * 100 // len(members)}%）"
        )
        profiles.append(
            {
                "id": cid,
                "size": len(members),
                "median_aum": round(aum, 2),
                "mean_txn_365d": round(txn, 1),
                "mean_age": round(age, 1),
                "profile": text,
            }
        )
    return ClusterResult([int(x) for x in labels], profiles)


@dataclass
class ChurnModel:
    model: LogisticRegression | None
    scaler: StandardScaler | None
    auc: float | None
    trained_on: int

    def predict(self, features: Sequence[Features]) -> list[float]:
        if self.model is None or self.scaler is None or not features:
            return [0.0] * len(features)
        probs = self.model.predict_proba(self.scaler.transform(_churn_x(features)))[:, 1]
        return [float(p) for p in probs]


def _churn_x(features: Sequence[Features]) -> np.ndarray:
    return np.array(
        [
            [
                math.log1p(max(f.aum, 0.0)),
                f.txn_90d,
                f.txn_prev_90d,
                math.log1p(f.recency_days),
                f.age,
                len(f.products),
                math.log1p(max(f.tenure_days, 0)),
            ]
            for f in features
        ],
        dtype=float,
    )


def train_churn(past: Sequence[Features], churned: Sequence[bool], seed: int = 7) -> ChurnModel:
    """Logistic regression on features as of 90 days ago, label = no transaction since.

    AUC is measured on a stratified 30 % holdout; with too little history (one class only, or
    fewer than 20 customers) no model is trained and AUC is reported as None.
    """
    y = np.array(churned, dtype=int)
    if len(past) < 20 or y.min() == y.max() or min(np.bincount(y)) < 5:
        return ChurnModel(None, None, None, len(past))
    x = _churn_x(past)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(x_tr)
    model = LogisticRegression(max_iter=500, class_weight="balanced").fit(scaler.transform(x_tr), y_tr)
    auc = float(roc_auc_score(y_te, model.predict_proba(scaler.transform(x_te))[:, 1]))
    # Refit on everything for scoring today's customers; the AUC above is the honest estimate.
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(max_iter=500, class_weight="balanced").fit(scaler.transform(x), y)
    return ChurnModel(model, scaler, round(auc, 4), len(past))


def association_rules(
    baskets: Sequence[frozenset[str]], min_support: float = 0.02, min_confidence: float = 0.2, top: int = 30
) -> list[dict[str, Any]]:
    """Pairwise rules A → B between products held together: support, confidence, lift."""
    n = len(baskets)
    if n == 0:
        return []
    single: Counter[str] = Counter()
    pair: Counter[tuple[str, str]] = Counter()
    for basket in baskets:
        items = sorted(basket)
        single.update(items)
        pair.update(combinations(items, 2))
    rules = []
    for (a, b), count in pair.items():
        support = count / n
        if support < min_support:
            continue
        for lhs, rhs in ((a, b), (b, a)):
            confidence = count / single[lhs]
            lift = confidence / (single[rhs] / n)
            if confidence >= min_confidence:
                rules.append(
                    {
                        "antecedent": lhs,
                        "consequent": rhs,
                        "support": round(support, 4),
                        "confidence": round(confidence, 4),
                        "lift": round(lift, 3),
                    }
                )
    def rank(rule: dict[str, Any]) -> tuple[float, float, str]:
        return -float(rule["lift"]), -float(rule["support"]), str(rule["antecedent"])

    return sorted(rules, key=rank)[:top]
