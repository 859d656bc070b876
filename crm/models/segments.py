"""Customer segment memberships, stored per rebuild version so campaigns can say which one they used."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow


class SegmentVersion(Base):
    """One run of ``bankcare segments rebuild``: parameters, model metrics and cluster profiles."""

    __tablename__ = "segment_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    as_of: Mapped[dt.date | None] = mapped_column(nullable=True)
    customers: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"churn_auc": 0.81, "clusters": [{"id": 0, "size": .., "profile": "..."}], "rules": [...]}
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SegmentMembership(Base):
    """A customer's value in one segment dimension (tier, lifecycle, rfm, cluster, churn ...)."""

    __tablename__ = "segment_memberships"

    version: Mapped[int] = mapped_column(ForeignKey("segment_versions.version"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
