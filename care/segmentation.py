"""``bankcare segments rebuild``: compute every segment dimension and store it as a new version."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tqdm import tqdm

from care import analytics
from crm.models import Customer
from crm.models.segments import SegmentVersion
from crm.segments import (
    Features,
    Thresholds,
    farming_season,
    iter_features,
    lifecycle_of,
    new_version,
    tier_of,
    write_memberships,
)


def _collect(session: Session, as_of: dt.date, bar: tqdm[Any] | None) -> list[Features]:
    out: list[Features] = []
    for batch in iter_features(session, as_of):
        out.extend(batch)
        if bar is not None:
            bar.update(len(batch))
    return out


def rebuild(
    session: Session,
    as_of: dt.date,
    *,
    thresholds: Thresholds = Thresholds(),
    k: int = 4,
    progress: bool = True,
) -> SegmentVersion:
    """Build segments as of ``as_of`` and store them under a new version number.

    Args:
        session: unit of work; the caller commits.
        as_of: the business date the segments describe.
        thresholds: tier and lifecycle thresholds.
        k: number of k-means clusters.
        progress: show tqdm progress bars (on stderr).
    """
    total = session.scalar(select(func.count()).select_from(Customer)) or 0
    bars: dict[str, tqdm[Any]] = {}

    def bar(desc: str, n: int) -> tqdm[Any] | None:
        if not progress:
            return None
        bars[desc] = tqdm(total=n, desc=desc, unit="户", leave=True)
        return bars[desc]

    try:
        current = _collect(session, as_of, bar("特征（当前）", total))
        past = {
            f.customer_id: f
            for f in _collect(session, as_of - dt.timedelta(days=90), bar("特征（90天前）", total))
        }
        # Train on customers who were active 90 days ago; churned = no transaction since.
        train = [
            (past[f.customer_id], f.txn_90d == 0)
            for f in current
            if f.customer_id in past and past[f.customer_id].txn_90d > 0
        ]
        model = analytics.train_churn([p for p, _ in train], [y for _, y in train])
        churn = model.predict(current)
        rfm = analytics.rfm(current)
        clustered = analytics.clusters(current, k=k)
        rules = analytics.association_rules([f.products for f in current])
        params = {k_: str(v) for k_, v in asdict(thresholds).items()} | {"k": k}
        version = new_version(session, as_of, params)
        write_bar = bar("写入分群", len(current))
        counts: dict[str, dict[str, int]] = {}
        chunk: list[tuple[int, str, str, float | None]] = []
        for i, f in enumerate(current):
            rows = [
                (f.customer_id, "tier", tier_of(f.aum, thresholds), f.aum),
                (f.customer_id, "kind", f.kind, None),
                (
                    f.customer_id,
                    "lifecycle",
                    lifecycle_of(f, thresholds, churn[i] if model.model else None),
                    None,
                ),
                (f.customer_id, "occupation", f.occupation, None),
                (f.customer_id, "season", farming_season(f.occupation, as_of), None),
                (f.customer_id, "rfm", rfm[i][0], rfm[i][1]),
                (f.customer_id, "cluster", str(clustered.labels[i]), None),
                (
                    f.customer_id,
                    "churn",
                    "high" if churn[i] >= 0.6 else ("medium" if churn[i] >= 0.3 else "low"),
                    round(churn[i], 4),
                ),
            ]
            for _, dim, value, _s in rows:
                counts.setdefault(dim, {}).setdefault(value, 0)
                counts[dim][value] += 1
            chunk.extend(rows)
            if len(chunk) >= 40000:
                write_memberships(session, version.version, chunk)
                chunk = []
            if write_bar is not None:
                write_bar.update(1)
        write_memberships(session, version.version, chunk)
        version.customers = len(current)
        counts.pop("rfm", None)  # 125 combinations: too many to be a useful summary
        version.metrics = {
            "churn_auc": model.auc,
            "churn_trained_on": model.trained_on,
            "clusters": clustered.profiles,
            "rules": rules,
            "counts": counts,
        }
        session.flush()
        return version
    finally:
        for b in bars.values():
            b.close()
