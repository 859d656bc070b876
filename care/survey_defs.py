"""Survey definitions: YAML files in ``care/surveys/`` (beside the campaigns) loaded into ``surveys``.

A survey asks its questions one at a time: NPS (0–10), CSAT (1–5), a single choice, or free text.
Its audience is a segment or an event (a branch appointment, a loan disbursement, a resolved
complaint or ticket, a quarterly random sample of active customers). A customer is asked at most
once per ``min_days_between`` days (90 by default) whatever the survey. Checked at load time like
campaigns, so a broken file never reaches the planner.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from care.definitions import SAMPLE_CONTEXT, DefinitionError, _json_safe, _parse_time
from care.render import render
from crm.models import Survey
from crm.models.base import utcnow
from crm.sms_templates import TemplateError, load_templates

SURVEY_DIR = Path(__file__).resolve().parent / "surveys"
QUESTION_KINDS = ("nps", "csat", "choice", "text")
SCORED = ("nps", "csat")
EVENTS = ("segment", "branch_appointment", "loan_disbursed", "ticket_resolved", "quarterly_sample")
DEFAULT_MIN_DAYS_BETWEEN = 90
# As campaigns: chat first then SMS, SMS only, chat only (WeChat or web chat).
CHANNEL_POLICIES = ("wechat_then_sms", "sms_only", "wechat_only")


@dataclass(frozen=True)
class Question:
    code: str
    kind: str  # nps | csat | choice | text
    text: str
    options: tuple[str, ...] = ()  # choice questions: answered by number (1, 2 …) or by the words

    @property
    def scored(self) -> bool:
        return self.kind in SCORED

    def prompt(self) -> str:
        """The question as the customer sees it (choices numbered)."""
        if not self.options:
            return self.text
        lines = [f"{i}. {o}" for i, o in enumerate(self.options, 1)]
        return self.text + "\n" + "\n".join(lines)


@dataclass(frozen=True)
class SurveyAudience:
    event: str  # one of EVENTS
    delay_days: int = 1  # events: ask this many days after the event
    segments: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sample_rate: float = 1.0  # share of the audience asked (stable per customer and quarter)
    ticket_kinds: tuple[str, ...] = ("complaint", "message")
    active_days: int = 90  # quarterly_sample: "active" = a transaction within this many days


@dataclass(frozen=True)
class SurveyDef:
    code: str
    name: str
    audience: SurveyAudience
    intro: str  # template (care.render), shown before the first question
    thanks: str
    questions: tuple[Question, ...]
    send_time: dt.time = dt.time(10, 0)
    channels: str = "wechat_only"  # wechat_then_sms | sms_only | wechat_only (as campaigns)
    sms_template: str | None = None  # asks the first question with a reply digit
    expires_days: int = 7
    min_days_between: int = DEFAULT_MIN_DAYS_BETWEEN
    callback_working_days: int = 2  # 回访 due within this many working days
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def uses_sms(self) -> bool:
        return self.channels != "wechat_only"


def parse(raw: dict[str, Any], where: str = "<dict>") -> SurveyDef:
    """Validate one raw YAML mapping and build a SurveyDef."""
    for key in ("code", "name", "audience", "questions"):
        if key not in raw:
            raise DefinitionError(f"{where}: 缺少字段 {key}")
    aud = raw["audience"] or {}
    event = aud.get("event")
    if event not in EVENTS:
        raise DefinitionError(f"{where}: audience.event 必须是 {', '.join(EVENTS)} 之一")
    rate = float(aud.get("sample_rate", 1.0))
    if not 0 < rate <= 1:
        raise DefinitionError(f"{where}: sample_rate 应在 0 到 1 之间")
    segments = {str(k): tuple(str(x) for x in v) for k, v in (aud.get("segments") or {}).items()}
    if event == "segment" and not segments:
        raise DefinitionError(f"{where}: 按分群调查需要 audience.segments")
    audience = SurveyAudience(
        event=event,
        delay_days=int(aud.get("delay_days", 1)),
        segments=segments,
        sample_rate=rate,
        ticket_kinds=tuple(aud.get("ticket_kinds") or ("complaint", "message")),
        active_days=int(aud.get("active_days", 90)),
    )
    questions = tuple(_question(q, i, where) for i, q in enumerate(raw["questions"] or []))
    if not questions:
        raise DefinitionError(f"{where}: 至少需要一个问题")
    codes = [q.code for q in questions]
    if len(set(codes)) != len(codes):
        raise DefinitionError(f"{where}: 问题代码重复")
    channels = str(raw.get("channels") or "wechat_only")
    if channels not in CHANNEL_POLICIES:
        raise DefinitionError(f"{where}: channels 必须是 {', '.join(CHANNEL_POLICIES)} 之一")
    sms_template = raw.get("sms_template")
    if channels != "wechat_only":
        if not sms_template:
            raise DefinitionError(f"{where}: 短信渠道需要 sms_template（用回复数字回答第一个问题）")
        if not questions[0].scored:
            raise DefinitionError(f"{where}: 短信调查的第一个问题必须是 nps 或 csat（回复数字）")
        try:
            template = load_templates().get(str(sms_template))
        except TemplateError as exc:
            raise DefinitionError(f"{where}: {exc}") from None
        if template.marketing:
            raise DefinitionError(f"{where}: 满意度调查不能使用营销短信模板 {sms_template}")
    survey = SurveyDef(
        code=str(raw["code"]),
        name=str(raw["name"]),
        audience=audience,
        intro=str(raw.get("intro") or "{{ salutation }}您好！耽误您一分钟，想听听您的意见。"),
        thanks=str(raw.get("thanks") or "感谢您的宝贵意见，我们会认真改进！"),
        questions=questions,
        send_time=_parse_time(raw.get("send_time", "10:00"), where),
        channels=channels,
        sms_template=str(sms_template) if sms_template else None,
        expires_days=int(raw.get("expires_days", 7)),
        min_days_between=int(raw.get("min_days_between", DEFAULT_MIN_DAYS_BETWEEN)),
        callback_working_days=int(raw.get("callback_working_days", 2)),
        raw=raw,
    )
    try:
        render(survey.intro, SAMPLE_CONTEXT, marketing=False)
    except Exception as exc:  # any template error is a definition error for staff to fix
        raise DefinitionError(f"{where}: intro 无法渲染: {exc}") from exc
    return survey


def _question(raw: Any, index: int, where: str) -> Question:
    if not isinstance(raw, dict) or "text" not in raw:
        raise DefinitionError(f"{where}: 第 {index + 1} 个问题需要 text")
    kind = raw.get("kind")
    if kind not in QUESTION_KINDS:
        raise DefinitionError(f"{where}: 问题 kind 必须是 {', '.join(QUESTION_KINDS)} 之一")
    options = tuple(str(o) for o in raw.get("options") or ())
    if kind == "choice" and len(options) < 2:
        raise DefinitionError(f"{where}: 单选题至少需要两个选项")
    return Question(code=str(raw.get("code") or f"q{index + 1}"), kind=kind, text=str(raw["text"]), options=options)


def read_files(directory: Path = SURVEY_DIR) -> list[SurveyDef]:
    """Parse every ``*.yml`` in ``directory`` (none: no surveys); codes must be unique."""
    out: list[SurveyDef] = []
    for path in sorted(directory.glob("*.yml")) if directory.is_dir() else []:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        items = data if isinstance(data, list) else [data]
        out.extend(parse(item, path.name) for item in items)
    codes = [d.code for d in out]
    dupes = {c for c in codes if codes.count(c) > 1}
    if dupes:
        raise DefinitionError(f"重复的调查代码: {', '.join(sorted(dupes))}")
    return out


def load_into_db(session: Session, definitions: list[SurveyDef]) -> tuple[int, int]:
    """Upsert surveys by code; returns (created, updated). Surveys are never deleted."""
    created = updated = 0
    existing = {s.code: s for s in session.scalars(select(Survey))}
    for d in definitions:
        row = existing.get(d.code)
        if row is None:
            row = Survey(code=d.code)
            session.add(row)
            created += 1
        else:
            updated += 1
        row.name = d.name
        row.definition = _json_safe(d.raw)
        row.active = bool(d.raw.get("active", True))
        row.updated_at = utcnow()
    session.flush()
    return created, updated


def from_row(row: Survey) -> SurveyDef:
    return parse(row.definition, f"survey {row.code}")
