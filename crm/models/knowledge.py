"""FAQ knowledge points maintained by bank staff (data, not Rasa training data)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow


class KnowledgePoint(Base):
    """One answer with the questions that lead to it.

    ``similar_questions`` is a JSON list of strings; the standard question is not repeated
    in it. ``valid_from``/``valid_to`` are inclusive calendar dates in Asia/Shanghai (a
    promotion "until 6月30日" ends at the end of that local day); ``None`` means open.
    """

    __tablename__ = "knowledge_point"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    standard_question: Mapped[str] = mapped_column(String(500), unique=True, index=True)
    similar_questions: Mapped[list[str]] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(100), default="", index=True)
    valid_from: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)

    def __repr__(self) -> str:
        return f"KnowledgePoint(id={self.id!r}, standard_question={self.standard_question!r})"


class KnowledgeCalibration(Base):
    """Matcher thresholds computed by cross-validation over the KB (see ``faq.calibrate``).

    Kept as rows (newest wins) so an audit can see when and how thresholds changed.
    """

    __tablename__ = "knowledge_calibration"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kb_version: Mapped[str] = mapped_column(String(120))
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    method: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class FaqVector(Base):
    """A knowledge-base question's sentence vector (see ``faq.semantic``), stored by content.

    ``key`` is the SHA-1 of model name + question text, so a vector is computed once per
    question and model, whichever process needs it first, and an edited question simply gets a
    new key. Only knowledge-base questions are stored, never customers' questions, and the
    question text itself is not kept here.
    """

    __tablename__ = "faq_vector"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    model: Mapped[str] = mapped_column(String(64))
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float32, little-endian
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
