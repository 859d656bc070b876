"""Hot reload of the index and the CLI output contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bankcare.cli_faq import main
from crm.db import session_scope
from crm.knowledge import upsert_points
from crm.models.knowledge import KnowledgePoint
from faq.io import read_knowledge_file
from faq.service import FaqService


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
