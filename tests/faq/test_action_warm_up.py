"""The action server builds the FAQ index as it starts, not on the first customer's question."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from actions import faq as faq_action
from core.db import make_engine, make_sessionmaker, session_scope
from crm.knowledge import upsert_points
from faq.io import read_knowledge_file
from faq.service import FaqService


class CountingService(FaqService):
    def __init__(self, factory: sessionmaker[Session]) -> None:
        super().__init__(factory)
        self.builds = 0

    def _build(self, version: str) -> None:
        self.builds += 1
        super()._build(version)


@pytest.fixture
def installed() -> Iterator[None]:
    yield
    faq_action.set_service(None)


def test_index_ready_before_the_first_question(
    factory: sessionmaker[Session], small_kb: Path, installed: None
) -> None:
    with session_scope(factory) as session:
        upsert_points(session, read_knowledge_file(small_kb))
    service = CountingService(factory)
    faq_action.set_service(service)
    faq_action.warm_up().join(30)
    assert service.builds == 1
    assert service.ask("卡丢了怎么办")[0].standard_question == "银行卡丢了怎么挂失"
    assert service.builds == 1  # the question used the warmed index


def test_database_not_ready_is_logged_not_fatal(
    tmp_path: Path, installed: None, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables yet: migrations not run
    try:
        faq_action.set_service(FaqService(make_sessionmaker(engine)))
        with caplog.at_level(logging.WARNING, logger="actions.faq"):
            faq_action.warm_up().join(30)
        assert "faq index not built at start-up" in caplog.text
    finally:
        engine.dispose()
