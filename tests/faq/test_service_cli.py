"""Hot reload of the index and the CLI output contract."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bankcare.cli_faq import main
from core.db import session_scope
from crm.knowledge import upsert_points
from crm.models.knowledge import KnowledgePoint
from faq.io import read_knowledge_file
from faq.service import REBUILD_NICE, FaqService


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("background", [False, True])
def test_hot_reload_after_staff_edit(factory: sessionmaker[Session], small_kb: Path, background: bool) -> None:
    with session_scope(factory) as session:
        upsert_points(session, read_knowledge_file(small_kb))
    clock = FakeClock()
    service = FaqService(factory, check_interval=5, background_reload=background, clock=clock)
    assert service.ask("银行几点上班")[0].answer == "工作日9:00-17:00。"
    with session_scope(factory) as session:
        point = session.scalars(
            select(KnowledgePoint).where(KnowledgePoint.standard_question == "网点营业时间是几点")
        ).one()
        point.answer = "工作日8:30-17:30，周六上午营业。"
    clock.now = 1.0  # within the check interval: still the old index
    assert service.ask("银行几点上班")[0].answer == "工作日9:00-17:00。"
    clock.now = 6.0
    service.ask("银行几点上班")
    service.wait_for_reload()
    assert service.ask("银行几点上班")[0].answer == "工作日8:30-17:30，周六上午营业。"


@pytest.mark.skipif(not hasattr(os, "setpriority"), reason="thread priorities are a POSIX feature")
def test_background_rebuild_runs_at_low_priority(
    factory: sessionmaker[Session], small_kb: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answers keep their latency while an index is rebuilt: the rebuild thread yields the CPU."""
    with session_scope(factory) as session:
        upsert_points(session, read_knowledge_file(small_kb))
    clock = FakeClock()
    service = FaqService(factory, check_interval=5, clock=clock)
    service.ask("银行几点上班")  # the first build: in the asking thread, at its priority
    seen: list[int] = []
    build = FaqService._build

    def recording_build(self: FaqService, version: str) -> None:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        build(self, version)

    monkeypatch.setattr(FaqService, "_build", recording_build)
    with session_scope(factory) as session:
        session.scalars(select(KnowledgePoint)).first().answer = "改过的答案。"  # type: ignore[union-attr]
    clock.now = 6.0
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    service.ask("银行几点上班")
    service.wait_for_reload()
    assert seen == [REBUILD_NICE]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # the asking thread is untouched


def test_inactive_points_disappear(factory: sessionmaker[Session], small_kb: Path) -> None:
    with session_scope(factory) as session:
        upsert_points(session, read_knowledge_file(small_kb))
    service = FaqService(factory, check_interval=0, background_reload=False)
    assert service.ask("卡丢了怎么办")[0].standard_question == "银行卡丢了怎么挂失"
    with session_scope(factory) as session:
        for p in session.scalars(select(KnowledgePoint)):
            p.active = p.standard_question != "银行卡丢了怎么挂失"
    assert all(m.standard_question != "银行卡丢了怎么挂失" for m in service.ask("卡丢了怎么办"))


def test_cli_import_ask_eval_export(
    db_url: str, small_kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["faq", "import", str(small_kb)]) == 0
    assert "新增 5" in capsys.readouterr().out
    assert main(["faq", "ask", "银行卡找不到了咋办"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["matches"]) == 3 and data["matches"][0]["question"] == "银行卡丢了怎么挂失"
    assert data["decision"] in {"answer", "choose", "unsure"}
    evalfile = tmp_path / "eval.tsv"
    evalfile.write_text("卡被人偷了\t请尽快挂失银行卡。\n几点关门\t请尽快挂失银行卡。\n", "utf-8")
    assert main(["faq", "eval", str(evalfile)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"top1=0\.500 top3=\d\.\d{3} n=2", out[-1])
    assert any(line.startswith("MISS\t几点关门") for line in out)
    assert main(["faq", "export", "--out", str(tmp_path / "x.tsv")]) == 0
    assert len(read_knowledge_file(tmp_path / "x.tsv")) == 5


def test_cli_import_bad_file_exit_code(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    bad = tmp_path / "bad.tsv"
    bad.write_text("一列\n", "utf-8")
    assert main(["faq", "import", str(bad)]) == 2
    assert "第1行" in capsys.readouterr().err
