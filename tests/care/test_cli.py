"""The care and segments CLI, driven through bankcare.cli.main like a user would."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from bankcare.cli import main
from core.db import session_scope
from crm.models import Delivery
from tests.care import factories as f


@pytest.fixture
def cli_db(factory, db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_url)
    with session_scope(factory) as s:
        b = f.branch(s)
        r = f.rm(s, b, name="陈晓")
        f.customer(s, b, name="张建华", birthday=dt.date(1970, 2, 6), rm_id=r.id)
        f.customer(s, b, name="王秀英", gender="F", birthday=dt.date(1950, 2, 6), consent=False)
    return factory


def test_load_preview_and_report(cli_db, capsys, tmp_path):
    assert main(["care", "load"]) == 0
    assert "已加载" in capsys.readouterr().out
    assert main(["care", "preview", "--date", "2027-02-06", "--show-text"]) == 0
    out = capsys.readouterr().out
    assert "张*华" in out and "王*英" in out
    assert "张建华" not in out and "王秀英" not in out  # never a full name on screen
    assert "今天生日" in out and "未获营销授权" in out and "春节问候" in out
    assert "张先生，生日快乐" in out
    with session_scope(cli_db) as s:
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0  # preview sent/planned nothing
    png = tmp_path / "r.png"
    assert main(["care", "report", "birthday_greeting", "--png", str(png)]) == 0
    assert "已送达" in capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["care", "report", "nope"]) == 1


def test_segments_rebuild_prints_summary(cli_db, capsys):
    assert main(["segments", "rebuild", "--as-of", "2027-02-06", "--quiet", "--clusters", "2"]) == 0
    out = capsys.readouterr().out
    assert "分群版本 1：2 位客户" in out and "价值分层" in out and "流失模型" in out
