"""The first index is built once, however many questions arrive while it is being built."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from core.db import session_scope
from crm.knowledge import upsert_points
from faq.io import read_knowledge_file
from faq.matcher import FaqMatcher
from faq.service import FaqService


class SlowCountingService(FaqService):
    """Counts builds and makes each one slow, as a large KB on a busy machine is."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        super().__init__(factory, check_interval=0.01)  # every question is "due" for a version check
        self.builds = 0

    def _build(self, version: str) -> None:
        self.builds += 1
        time.sleep(0.3)
        super()._build(version)


def test_concurrent_first_questions_share_one_build(factory: sessionmaker[Session], small_kb: Path) -> None:
    with session_scope(factory) as session:
        upsert_points(session, read_knowledge_file(small_kb))
    service = SlowCountingService(factory)
    answers: list[str] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            answers.append(service.ask("卡丢了怎么办")[0].standard_question)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for i, t in enumerate(threads):
        t.start()
        if i == 3:
            time.sleep(0.1)  # some arrive mid-build, past the check interval
    for t in threads:
        t.join(10)
    assert not errors
    assert service.builds == 1
    # Nobody was told "not sure" for want of an index: every caller waited for the one build.
    assert answers == ["银行卡丢了怎么挂失"] * 8


def test_failed_first_build_is_retried_by_the_next_question(
    factory: sessionmaker[Session], small_kb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(factory) as session:
        upsert_points(session, read_knowledge_file(small_kb))
    service = FaqService(factory)
    real_build = FaqMatcher.build
    calls = {"n": 0}

    def flaky_build(*args: object, **kwargs: object) -> FaqMatcher:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database went away")
        return real_build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(FaqMatcher, "build", staticmethod(flaky_build))
    with pytest.raises(RuntimeError):
        service.ask("卡丢了怎么办")
    assert service.ask("卡丢了怎么办")[0].standard_question == "银行卡丢了怎么挂失"
