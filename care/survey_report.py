"""Survey results: response rates, NPS and CSAT with 95 % intervals, comments by topic, and 回访.

One module for ``bankcare surveys report`` and ``/console/surveys``, so they cannot disagree. Groups
(``by``): branch, rm, segment, channel or period (the month invited). Only aggregates and masked
comments leave here; no customer name or number.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from care.compliance import TZ
from care.survey_defs import from_row
from care.survey_stats import CsatResult, Interval, NpsResult, csat, nps, wilson
from crm.models import Branch, CallbackTask, Delivery, RelationshipManager, Survey, SurveyAnswer, SurveyResponse
from crm.models.care import DeliveryStatus
from crm.models.surveys import CallbackStatus

GROUPINGS = ("branch", "rm", "segment", "channel", "period")
CHANNELS_ZH = {"wechat": "微信", "web": "网页聊天", "sms": "短信"}
# Comment topics: simple keyword groups (a comment may fall in several); the rest is 其他.
TOPICS: dict[str, tuple[str, ...]] = {
    "排队等候": ("排队", "等了", "等太久", "人多", "等候", "叫号", "等半天"),
    "服务态度": ("态度", "热情", "耐心", "微笑", "脸色", "不耐烦", "礼貌", "客气"),
    "办理效率": ("效率", "速度", "太慢", "慢", "麻烦", "手续", "材料", "跑了几趟", "快"),
    "手机银行与线上": ("手机银行", "app", "网银", "小程序", "微信", "线上", "转账"),
    "利率与收费": ("利息", "利率", "收费", "手续费", "费用", "年费"),
    "网点环境": ("环境", "停车", "座位", "空调", "卫生", "干净", "网点"),
    "贷款": ("贷款", "放款", "审批", "额度", "还款"),
}
OTHER_TOPIC = "其他"


class UnknownSurvey(LookupError):
    pass


@dataclass
class GroupStats:
    key: str
    label: str
    invited: int = 0  # invitations that went out
    responded: int = 0  # answered at least one question
    response_ci: Interval = field(default_factory=lambda: Interval(0.0, 1.0))
    nps: NpsResult | None = None
    csat: CsatResult | None = None

    @property
    def response_rate(self) -> float | None:
        return self.responded / self.invited if self.invited else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "invited": self.invited,
            "responded": self.responded,
            "response_rate": self.response_rate,
            "response_rate_ci": [self.response_ci.low, self.response_ci.high],
            "nps": self.nps.as_dict() if self.nps else None,
            "csat": self.csat.as_dict() if self.csat else None,
        }


@dataclass
class CallbackStats:
    opened: int = 0
    closed: int = 0
    in_time: int = 0  # closed on or before the due day
    overdue_open: int = 0  # still open after the due day
    compared: int = 0  # customers answered the same scale again in a later survey
    improved: int = 0  # … with a higher score

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class SurveyReport:
    code: str
    name: str
    by: str | None
    overall: GroupStats
    groups: list[GroupStats]
    topics: list[dict[str, Any]]
    callbacks: CallbackStats
    method: str = "NPS 与满意度均值：自助法（bootstrap）95% 置信区间；满意率与回复率：Wilson 95% 置信区间"

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "by": self.by,
            "overall": self.overall.as_dict(),
            "groups": [g.as_dict() for g in self.groups],
            "topics": self.topics,
            "callbacks": self.callbacks.as_dict(),
            "method": self.method,
        }


def list_surveys(session: Session) -> list[dict[str, Any]]:
    counts = dict(
        session.execute(select(SurveyResponse.survey_id, func.count()).group_by(SurveyResponse.survey_id)).all()
    )
    return [
        {"code": s.code, "name": s.name, "active": s.active, "invitations": int(counts.get(s.id, 0))}
        for s in session.scalars(select(Survey).order_by(Survey.code))
    ]


def build(
    session: Session,
    code: str,
    by: str | None = None,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    today: dt.date | None = None,
) -> SurveyReport:
    """The report of survey ``code`` (invited between ``since`` and ``until``), grouped ``by``."""
    if by is not None and by not in GROUPINGS:
        raise ValueError(f"by must be one of {GROUPINGS}")
    survey = session.scalar(select(Survey).where(Survey.code == code))
    if survey is None:
        raise UnknownSurvey(code)
    definition = from_row(survey)
    today = today or dt.datetime.now(TZ).date()
    stmt = (
        select(SurveyResponse)
        .join(Delivery, Delivery.idempotency_key == SurveyResponse.delivery_key)
        .where(SurveyResponse.survey_id == survey.id, Delivery.status == DeliveryStatus.SENT)
    )
    if since is not None:
        stmt = stmt.where(SurveyResponse.invited_on >= since)
    if until is not None:
        stmt = stmt.where(SurveyResponse.invited_on <= until)
    responses = list(session.scalars(stmt))
    ids = [r.id for r in responses]
    answers: dict[int, list[SurveyAnswer]] = defaultdict(list)
    for chunk in _chunks(ids):
        for a in session.scalars(select(SurveyAnswer).where(SurveyAnswer.response_id.in_(chunk))):
            answers[a.response_id].append(a)
    labels = _labels(session, by)
    overall = _stats("all", "全部", responses, answers)
    groups: list[GroupStats] = []
    if by is not None:
        buckets: dict[str, list[SurveyResponse]] = defaultdict(list)
        for r in responses:
            buckets[_key(r, by)].append(r)
        groups = [
            _stats(key, labels.get(key, key if key != "-" else "未知"), rows, answers)
            for key, rows in sorted(buckets.items())
        ]
    comments = [a.comment for r in responses for a in answers[r.id] if a.kind == "text" and a.comment]
    return SurveyReport(
        definition.code, definition.name, by, overall, groups, topics(comments),
        _callbacks(session, ids, today),
    )  # fmt: skip


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _key(r: SurveyResponse, by: str) -> str:
    if by == "branch":
        return str(r.branch_id) if r.branch_id is not None else "-"
    if by == "rm":
        return str(r.rm_id) if r.rm_id is not None else "-"
    if by == "segment":
        return r.segment or "-"
    if by == "channel":
        return r.channel
    return r.invited_on.strftime("%Y-%m")


def _labels(session: Session, by: str | None) -> dict[str, str]:
    if by == "branch":
        return {str(i): n for i, n in session.execute(select(Branch.id, Branch.name))}
    if by == "rm":
        return {str(i): n for i, n in session.execute(select(RelationshipManager.id, RelationshipManager.name))}
    if by == "channel":
        return dict(CHANNELS_ZH)
    return {}


def _stats(
    key: str, label: str, responses: list[SurveyResponse], answers: dict[int, list[SurveyAnswer]]
) -> GroupStats:
    responded = sum(1 for r in responses if answers.get(r.id))
    nps_scores = [a.score for r in responses for a in answers.get(r.id, []) if a.kind == "nps" and a.score is not None]
    csat_scores = [
        a.score for r in responses for a in answers.get(r.id, []) if a.kind == "csat" and a.score is not None
    ]
    return GroupStats(
        key, label, len(responses), responded, wilson(responded, len(responses)), nps(nps_scores), csat(csat_scores)
    )


def topics(comments: list[str], examples: int = 3) -> list[dict[str, Any]]:
    """Comments grouped by keyword topic, largest first, with a few (masked) examples each."""
    found: dict[str, list[str]] = defaultdict(list)
    for comment in comments:
        low = comment.lower()
        hit = [topic for topic, words in TOPICS.items() if any(w in low for w in words)]
        for topic in hit or [OTHER_TOPIC]:
            found[topic].append(comment)
    ordered = sorted(found.items(), key=lambda kv: (kv[0] == OTHER_TOPIC, -len(kv[1]), kv[0]))
    return [{"topic": t, "count": len(cs), "examples": cs[:examples]} for t, cs in ordered]


def _callbacks(session: Session, response_ids: list[int], today: dt.date) -> CallbackStats:
    out = CallbackStats()
    for chunk in _chunks(response_ids):
        for task in session.scalars(select(CallbackTask).where(CallbackTask.response_id.in_(chunk))):
            out.opened += 1
            if task.status != CallbackStatus.OPEN and task.closed_at is not None:
                out.closed += 1
                if task.closed_at.astimezone(TZ).date() <= task.due_on:
                    out.in_time += 1
            elif today > task.due_on:
                out.overdue_open += 1
            later = _next_score(session, task)
            if later is not None:
                out.compared += 1
                out.improved += later > task.score
    return out


def _next_score(session: Session, task: CallbackTask) -> int | None:
    """The customer's score on the same scale in the first later survey answer, if any."""
    return session.scalar(
        select(SurveyAnswer.score)
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(
            SurveyResponse.customer_id == task.customer_id,
            SurveyResponse.id != task.response_id,
            SurveyAnswer.kind == task.scale,
            SurveyAnswer.score.is_not(None),
            SurveyAnswer.answered_at > task.created_at,
        )
        .order_by(SurveyAnswer.answered_at)
        .limit(1)
    )


def text_lines(report: SurveyReport) -> list[str]:
    """The report as the command line prints it."""

    def describe(g: GroupStats) -> str:
        parts = [f"邀请 {g.invited}", f"回复 {g.responded}"]
        if g.response_rate is not None:
            parts.append(f"回复率 {g.response_rate:.0%}（{g.response_ci.low:.0%}–{g.response_ci.high:.0%}）")
        if g.nps:
            parts.append(f"NPS {g.nps.nps:+.0f}（{g.nps.ci.low:+.0f}～{g.nps.ci.high:+.0f}，n={g.nps.n}）")
        if g.csat:
            c = g.csat
            parts.append(
                f"满意度均分 {c.mean:.2f}（{c.mean_ci.low:.2f}–{c.mean_ci.high:.2f}），"
                f"满意率 {c.satisfied_share:.0%}（{c.satisfied_ci.low:.0%}–{c.satisfied_ci.high:.0%}，n={c.n}）"
            )
        return "，".join(parts)

    lines = [f"{report.code} {report.name}", f"  全部：{describe(report.overall)}"]
    for g in report.groups:
        lines.append(f"  {g.label}：{describe(g)}")
    cb = report.callbacks
    lines.append(
        f"回访：需回访 {cb.opened}，已完成 {cb.closed}（按时 {cb.in_time}），逾期未回访 {cb.overdue_open}；"
        f"再次调查 {cb.compared} 人，其中评分提高 {cb.improved} 人"
    )
    if report.topics:
        lines.append("意见分类：" + "，".join(f"{t['topic']} {t['count']}" for t in report.topics))
    lines.append(f"（{report.method}）")
    return lines


def _cjk_font_path() -> str | None:
    """A CJK font file (fonts-wqy-microhei first), used per figure; never set in global rcParams."""
    from matplotlib import font_manager

    preferred = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans CJK", "Source Han Sans")
    for name in preferred:
        for font in font_manager.fontManager.ttflist:
            if font.name.startswith(name):
                return str(font.fname)
    return None


def chart_png(report: SurveyReport) -> bytes:
    """Bar chart of NPS (or mean CSAT) per group with the 95 % intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    path = _cjk_font_path()
    font = font_manager.FontProperties(fname=path) if path else None
    groups = report.groups or [report.overall]
    use_nps = any(g.nps for g in groups)
    values, lows, highs, labels = [], [], [], []
    for i, g in enumerate(groups):
        labels.append(g.label if font else (g.key if g.key != "all" else "all") or str(i))
        if use_nps and g.nps:
            values.append(g.nps.nps)
            lows.append(g.nps.nps - g.nps.ci.low)
            highs.append(g.nps.ci.high - g.nps.nps)
        elif not use_nps and g.csat:
            values.append(g.csat.mean)
            lows.append(g.csat.mean - g.csat.mean_ci.low)
            highs.append(g.csat.mean_ci.high - g.csat.mean)
        else:
            values.append(0.0)
            lows.append(0.0)
            highs.append(0.0)
    fig = Figure(figsize=(max(5.0, 1.2 * len(groups) + 2), 3.6), dpi=100)
    ax = fig.subplots()
    ax.bar(range(len(values)), values, yerr=[lows, highs], capsize=4, color="#2e7d32")
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(labels, fontproperties=font, rotation=20 if len(groups) > 4 else 0)
    if font:
        ax.set_ylabel("NPS" if use_nps else "满意度均分（1-5）", fontproperties=font)
        ax.set_title(f"{report.name}（95% 置信区间）", fontproperties=font)
    else:
        ax.set_ylabel("NPS" if use_nps else "CSAT mean (1-5)")
        ax.set_title(f"{report.code} (95% CI)")
    if use_nps:
        ax.set_ylim(-100, 100)
        ax.axhline(0, color="#999999", linewidth=0.8)
    else:
        ax.set_ylim(0, 5)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
