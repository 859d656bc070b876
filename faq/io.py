"""Reading and writing knowledge-base files (TSV, CSV, XLSX) in the two shapes staff use.

Shape (a): ``question<TAB>answer`` rows; questions sharing an answer become one point, the
first of them its standard question. Shape (b): a header row naming the columns
standard_question / similar_questions / answer / category (Chinese headers such as 标准问题 /
相似问题 / 答案 / 分类 are accepted too); similar questions are separated by ``|``, ``；`` or
newlines. A header with a question and an answer column but no similar-questions column (a bank's
"序号/问题/答案" sheet) is read as shape (a) from those columns: rows sharing an answer become one
point. Title rows above the header (an Excel sheet's "XX银行常见问题" banner) are skipped.
Parsing is complete before anything is written, so a bad file writes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from crm.knowledge import KnowledgeDraft
from crm.models.knowledge import KnowledgePoint

COLUMNS = ("standard_question", "similar_questions", "answer", "category", "valid_from", "valid_to", "active")
_HEADER_ALIASES = {
    "standard_question": (
        "standard_question",
        "question",
        "标准问题",
        "标准问",
        "标准问法",
        "问题",
        "常见问题",
        "问题描述",
        "问题内容",
        "问",
    ),
    "similar_questions": (
        "similar_questions",
        "相似问题",
        "相似问",
        "扩展问",
        "扩展问题",
        "相似问法",
        "其他问法",
        "同义问法",
        "相关问题",
    ),
    "answer": ("answer", "答案", "回答", "标准答案", "答复", "解答", "答案内容", "回复", "答"),
    "category": ("category", "分类", "类别", "业务分类", "业务类别", "业务类型", "所属分类", "类型", "栏目"),
    "valid_from": ("valid_from", "生效日期", "开始日期"),
    "valid_to": ("valid_to", "失效日期", "截止日期", "结束日期"),
    "active": ("active", "启用", "是否启用"),
}
_SIMILAR_SPLIT = re.compile(r"[|｜;；\n\r]+")
_HEADER_SCAN = 5  # non-empty rows searched for the header (title rows above it are skipped)
_MAX_ERRORS_SHOWN = 10


class FaqImportError(ValueError):
    """The file cannot be imported; ``problems`` lists ``(line, message)`` pairs."""

    code = "faq.import_invalid"

    def __init__(self, path: str, problems: Sequence[tuple[int, str]]) -> None:
        self.path = path
        self.problems = list(problems)
        shown = "; ".join(f"第{line}行: {msg}" if line else msg for line, msg in self.problems[:_MAX_ERRORS_SHOWN])
        more = len(self.problems) - _MAX_ERRORS_SHOWN
        suffix = f"（另有 {more} 处问题未列出）" if more > 0 else ""
        super().__init__(f"{path}: 无法导入，未写入任何内容。{shown}{suffix}")


def _decode(data: bytes) -> str:
    # Excel on Chinese Windows saves CSV as GBK; UTF-8 files may carry a BOM.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnicodeDecodeError("utf-8", data, 0, 1, "neither UTF-8 nor GB18030")


def read_rows(path: Path) -> list[list[str]]:
    """All rows of a TSV/CSV/XLSX file as lists of stripped strings (blank rows dropped)."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook  # imported lazily: only staff imports need it

        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            rows = [["" if c is None else str(c).strip() for c in row] for row in ws.iter_rows(values_only=True)]
        finally:
            wb.close()
    elif suffix in (".tsv", ".txt", ".csv"):
        text = _decode(path.read_bytes())
        delimiter = "," if suffix == ".csv" else "\t"
        head = text.split("\n", 1)[0]
        if suffix == ".csv" and "\t" in head and "," not in head:  # a TSV saved as .csv
            delimiter = "\t"
        rows = [[_imported(c.strip()) for c in row] for row in csv.reader(io.StringIO(text), delimiter=delimiter)]
    else:
        raise FaqImportError(str(path), [(0, f"不支持的文件类型 {suffix or '(无扩展名)'}，请使用 .tsv/.csv/.xlsx")])
    # Keep line numbers meaningful: blank rows become empty lists, filtered by the parsers.
    return [row if any(row) else [] for row in rows]


def _header_key(cell: str) -> str:
    """A header cell as compared: lower case, no spaces, no note in brackets ("相似问题（用|分隔）")."""
    cell = re.sub(r"[（(【\[].*$", "", cell.strip().lower())
    return re.sub(r"\s+", "", cell).rstrip(":：*")


def _header_map(row: list[str]) -> dict[str, int] | None:
    lowered = [_header_key(c) for c in row]
    found: dict[str, int] = {}
    for key, aliases in _HEADER_ALIASES.items():
        for i, cell in enumerate(lowered):
            if cell in aliases:
                found[key] = i
                break
    if "answer" in found and "standard_question" in found and found["answer"] != found["standard_question"]:
        return found
    return None


_PAIRS_ONLY = {"standard_question", "answer", "category"}  # a header these cover is read as shape (a)


def _parse_date(value: str, line: int, problems: list[tuple[int, str]]) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10].replace("/", "-"))
    except ValueError:
        problems.append((line, f"日期格式应为 YYYY-MM-DD：{value!r}"))
        return None


def _parse_active(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "否", "停用", "n")


def parse_rows(rows: list[list[str]], path: str = "<rows>") -> list[KnowledgeDraft]:
    """Turn rows into drafts, detecting the shape; raise :class:`FaqImportError` on any problem."""
    problems: list[tuple[int, str]] = []
    filled = [i for i, r in enumerate(rows) if r]
    if not filled:
        raise FaqImportError(path, [(0, "文件为空")])
    first, header = filled[0], None
    for i in filled[:_HEADER_SCAN]:
        header = _header_map(rows[i])
        if header:
            first = i
            break
    if header and set(header) <= _PAIRS_ONLY and "similar_questions" not in header:
        drafts = _parse_pairs(rows, first + 1, problems, header)
    elif header:
        drafts = _parse_columns(rows, first, header, problems)
    else:
        if max(len([c for c in rows[i] if c]) for i in filled) > 2:
            raise FaqImportError(path, [(0, _NO_HEADER)])
        drafts = _parse_pairs(rows, first, problems)
    if not drafts and not problems:
        problems.append((0, "没有可导入的知识点"))
    if problems:
        raise FaqImportError(path, problems)
    return drafts


_NO_HEADER = (
    "没有找到表头，而有的行多于两列。请在第一行写列名：至少“问题”和“答案”，可选“相似问题”（多个用 | 或 ；分隔）、"
    "“分类”、“生效日期”、“失效日期”、“启用”；没有表头时每行只能是“问题<TAB>答案”两列"
)


def _parse_pairs(
    rows: list[list[str]], first: int, problems: list[tuple[int, str]], header: dict[str, int] | None = None
) -> list[KnowledgeDraft]:
    by_answer: dict[str, list[str]] = {}
    answer_of: dict[str, str] = {}
    category_of: dict[str, str] = {}
    for i in range(first, len(rows)):
        row, line = rows[i], i + 1
        if not row:
            continue
        if header is not None:
            q_i, a_i, c_i = header["standard_question"], header["answer"], header.get("category")
            cells = [row[q_i] if q_i < len(row) else "", row[a_i] if a_i < len(row) else ""]
            category = row[c_i] if c_i is not None and c_i < len(row) else ""
            if not cells[0] or not cells[1]:
                problems.append((line, "问题和答案都不能为空"))
                continue
        else:
            cells, category = ([c for c in row if c] if len(row) > 2 else row), ""
            if len(cells) != 2 or not cells[0] or not cells[1]:
                problems.append((line, "每行应为“问题<TAB>答案”两列，且都不能为空"))
                continue
        question, answer = cells
        if answer_of.get(question, answer) != answer:
            problems.append((line, f"同一个问题对应了两个不同的答案：{question[:30]}"))
            continue
        if question in answer_of:
            continue
        answer_of[question] = answer
        by_answer.setdefault(answer, []).append(question)
        category_of.setdefault(answer, category)
    return [
        KnowledgeDraft(standard_question=qs[0], answer=a, similar_questions=tuple(qs[1:]), category=category_of[a])
        for a, qs in by_answer.items()
    ]


def _parse_columns(
    rows: list[list[str]], first: int, header: dict[str, int], problems: list[tuple[int, str]]
) -> list[KnowledgeDraft]:
    drafts: dict[str, KnowledgeDraft] = {}
    owner: dict[str, str] = {}  # every question -> its standard question, to catch conflicts

    def cell(row: list[str], key: str) -> str:
        i = header.get(key)
        return row[i].strip() if i is not None and i < len(row) else ""

    for i in range(first + 1, len(rows)):
        row, line = rows[i], i + 1
        if not row:
            continue
        std, answer = cell(row, "standard_question"), cell(row, "answer")
        if not std or not answer:
            problems.append((line, "标准问题和答案都不能为空"))
            continue
        if std in drafts:
            problems.append((line, f"标准问题重复：{std[:30]}"))
            continue
        similar = [q.strip() for q in _SIMILAR_SPLIT.split(cell(row, "similar_questions")) if q.strip()]
        for q in [std, *similar]:
            if owner.setdefault(q, std) != std:
                problems.append((line, f"问题“{q[:30]}”同时属于两个知识点"))
        drafts[std] = KnowledgeDraft(
            standard_question=std,
            answer=answer,
            similar_questions=tuple(dict.fromkeys(q for q in similar if q != std)),
            category=cell(row, "category"),
            valid_from=_parse_date(cell(row, "valid_from"), line, problems),
            valid_to=_parse_date(cell(row, "valid_to"), line, problems),
            active=_parse_active(cell(row, "active")) if "active" in header else True,
        )
        d = drafts[std]
        if d.valid_from and d.valid_to and d.valid_from > d.valid_to:
            problems.append((line, "生效日期晚于失效日期"))
    return list(drafts.values())


def read_knowledge_file(path: str | Path) -> list[KnowledgeDraft]:
    """Parse a knowledge-base file of either shape into drafts (nothing is written)."""
    p = Path(path)
    if not p.is_file():
        raise FaqImportError(str(p), [(0, "文件不存在")])
    try:
        rows = read_rows(p)
    except (UnicodeDecodeError, csv.Error, OSError, ValueError) as exc:
        if isinstance(exc, FaqImportError):
            raise
        raise FaqImportError(str(p), [(0, f"无法读取文件：{type(exc).__name__}")]) from exc
    return parse_rows(rows, str(p))


# A cell starting like a formula (=, +, -, @, tab, CR) runs as one when staff open an export in
# Excel or WPS, and exported questions include what customers typed (insights turns unanswered
# questions into knowledge points): ``=HYPERLINK("http://…"&A2)`` would send the sheet away. CSV/TSV
# cells get a leading apostrophe, which the importer removes again; XLSX cells are written as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def _imported(cell: str) -> str:
    """A cell as read, without the apostrophe an export put in front of a formula-like start."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_START) else cell


def _export_row(point: KnowledgePoint) -> list[str]:
    return [
        point.standard_question,
        "|".join(point.similar_questions or []),
        point.answer,
        point.category or "",
        point.valid_from.isoformat() if point.valid_from else "",
        point.valid_to.isoformat() if point.valid_to else "",
        "1" if point.active else "0",
    ]


def write_knowledge(points: Iterable[KnowledgePoint], out: io.TextIOBase | Path) -> None:
    """Write points in shape (b): TSV to a text stream, or TSV/CSV/XLSX to a path by extension."""
    rows = [list(COLUMNS), *(_export_row(p) for p in points)]
    if isinstance(out, Path):
        suffix = out.suffix.lower()
        if suffix == ".xlsx":
            from openpyxl import Workbook

            wb = Workbook()
            ws = wb.active
            assert ws is not None
            ws.title = "knowledge"
            for row in rows:
                ws.append(row)
            for cells in ws.iter_rows():
                for cell in cells:
                    if cell.data_type == "f":  # openpyxl reads a leading "=" as a formula
                        cell.data_type = "s"
            wb.save(out)
            return
        inert = [[_inert(c) for c in row] for row in rows]
        with out.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh, delimiter="," if suffix == ".csv" else "\t", lineterminator="\n").writerows(inert)
        return
    csv.writer(out, delimiter="\t", lineterminator="\n").writerows([[_inert(c) for c in row] for row in rows])


ADVISE_MIN_PHRASINGS = 5  # below this many phrasings a point mostly gets choices, not answers


def phrasing_advice(drafts: Sequence[KnowledgeDraft], minimum: int = ADVISE_MIN_PHRASINGS) -> str | None:
    """A note for the staff importing ``drafts`` when many points have few phrasings, else None.

    A bank's website FAQ has one formal question per answer, maybe two or three variants, while
    customers write 卡丢了咋办 for 借记卡遗失后如何挂失. With so few phrasings the calibrated
    thresholds are learnt from formal wording, and customers' questions mostly get choices or a
    human instead of the answer (another bank's FAQ with 3.1 phrasings per answer: 24 % answered
    directly although the best match was right for 88 %, ``make bench-faq-other``).
    """
    active = [d for d in drafts if d.active]
    if not active:
        return None
    counts = [1 + len(d.similar_questions) for d in active]
    few = sum(c < minimum for c in counts)
    if few * 2 < len(active):
        return None
    return (
        f"提示：{few}/{len(active)} 个知识点的问法少于 {minimum} 个（平均 {sum(counts) / len(active):.1f} 个）。"
        "客户多用口语提问（如“卡丢了咋办”），问法少时机器人更常给出选项或转人工，而不是直接回答。"
        f"建议为每个知识点补充 {minimum} 个以上客户常用的说法（相似问题列，用 | 或 ；分隔），"
        "上线后可用 `bankcare insights gaps` 查看客户没问到答案的问题并补充。"
    )
