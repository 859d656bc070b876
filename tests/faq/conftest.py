"""FAQ fixtures: a fresh SQLite database with the knowledge tables, and a small KB file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

import crm.models.knowledge  # noqa: F401 - registers the tables on Base.metadata
from core.db import make_engine, make_sessionmaker
from crm.models.base import Base

SMALL_KB = (
    "standard_question\tsimilar_questions\tanswer\tcategory\n"
    "银行卡丢了怎么挂失\t卡丢了怎么办|银行卡找不到了|卡被偷了咋办|怎么挂失银行卡\t请尽快挂失银行卡。\t银行卡\n"
    "手机银行转账限额是多少\t手机转账一天能转多少|转账额度是多少|手机银行每日限额\t手机银行默认日限额5万元。\t转账\n"
    "定期存款利率是多少\t存一年定期利息多少|定期利息怎么算|现在存款利率\t请以挂牌利率为准。\t存款\n"
    "怎么开通手机银行\t手机银行在哪下载|我想用手机银行|手机银行怎么注册\t请从官方渠道下载手机银行。\t手机银行\n"
    "网点营业时间是几点\t银行几点上班|周末银行开门吗|银行几点关门\t工作日9:00-17:00。\t网点\n"
)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'faq.db'}"
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def small_kb(tmp_path: Path) -> Path:
    path = tmp_path / "kb.tsv"
    path.write_text(SMALL_KB, encoding="utf-8")
    return path
