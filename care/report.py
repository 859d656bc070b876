"""Campaign report: what happened to every planned message, and an optional PNG chart."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from care.sms_channel import SMS, estimated_cost, price_per_segment
from crm.models import Campaign, Delivery
from crm.models.care import DeliveryStatus

# Labels used in the text report (Chinese) and in the chart (English unless a CJK font exists).
METRICS = (
    ("delivered", "已送达", "delivered"),
    ("pending", "待发送", "pending"),
    ("deferred", "已推迟", "deferred"),
    ("suppressed", "未发送", "suppressed"),
    ("failed", "失败", "failed"),
    ("replied", "已回复", "replied"),
    ("opted_out", "已退订", "opted out"),
)
REASONS_ZH = {
    "holdout": "对照组（随机留出不发送，用于衡量转化）",
    "no_consent": "未获营销授权",
    "opted_out": "客户已退订",
    "no_channel": "无可用渠道",
    "unsubscribed": "已取消关注",
    "frequency_cap_day": "超过每日频次上限",
    "frequency_cap_week": "超过每周频次上限",
    "quiet_hours": "夜间免打扰，推迟到8点",
    "already_planned": "已在计划中",
    "retry_scheduled": "等待重试",
    "max_attempts": "多次失败，已停止",
    "permanent_failure": "无法送达",
    "no_sms_consent": "未签约短信通知",
    "sms_unreachable": "手机号多次无法接收（空号或停机）",
    "sms_budget": "超过活动当日短信预算",
    "provider_limit": "短信平台频率限制，稍后重发",
    "undelivered": "运营商回执未送达",
    "ambiguous_after_crash": "发送中断，结果不明，请人工核实",
}
CHANNEL_ZH = {"wechat": "微信", "web": "网页聊天", SMS: "短信", "none": "无", "-": "无"}
# SMS billing segments of a stored text, in SQL (see crm.sms_templates.segments: 70, then 67 each).
_SEGMENTS = case((func.length(Delivery.text) <= 70, 1), else_=(func.length(Delivery.text) + 66) / 67)


class UnknownCampaign(LookupError):
    pass


@dataclass
class CampaignReport:
    code: str
    name: str
    kind: str = ""
    is_marketing: bool = False
    active: bool = True
    metrics: Counter[str] = field(default_factory=Counter)
    suppressed_by_reason: Counter[str] = field(default_factory=Counter)
    by_variant: dict[str, Counter[str]] = field(default_factory=dict)
    # Per channel: delivered / failed / replied ... (same keys as metrics).
    by_channel: dict[str, Counter[str]] = field(default_factory=dict)
    # Failures (gave up, or waiting for a retry) by reason, with the provider's code for SMS.
    failed_by_reason: Counter[str] = field(default_factory=Counter)
    sms_segments: int = 0  # billing segments of SMS sent or still to send
    price_per_segment: Decimal = field(default_factory=price_per_segment)

    @property
    def sms_cost(self) -> Decimal:
        return estimated_cost(self.sms_segments, self.price_per_segment)

    def lines(self) -> list[str]:
        out = [f"活动 {self.code}（{self.name}）"]
        out += [f"  {zh}：{self.metrics[key]:,}" for key, zh, _ in METRICS]
        for reason, n in self.suppressed_by_reason.most_common():
            out.append(f"    - {REASONS_ZH.get(reason, reason)}：{n:,}")
        for variant, counts in sorted(self.by_variant.items()):
            sent = counts["delivered"]
            rate = counts["replied"] / sent if sent else 0.0
            out.append(f"  版本 {variant}：送达 {sent:,}，回复 {counts['replied']:,}（回复率 {rate:.1%}）")
        if self.failed_by_reason:
            out.append("  失败原因：")
            out += [f"    - {_reason_zh(r)}：{n:,}" for r, n in self.failed_by_reason.most_common()]
        for channel, counts in sorted(self.by_channel.items()):
            if channel == "none":
                continue
            sent = counts["delivered"]
            rate = counts["replied"] / sent if sent else 0.0
            waiting = counts["pending"] + counts["deferred"]
            out.append(f"  {CHANNEL_ZH.get(channel, channel)}：送达 {sent:,}，失败 {counts['failed']:,}，"
                       f"待发送 {waiting:,}，回复 {counts['replied']:,}（回复率 {rate:.1%}）")
        if self.sms_segments:
            price = self.price_per_segment
            out.append(f"  短信计费 {self.sms_segments:,} 条，预计费用 {self.sms_cost:,} 元（每条 {price} 元）")
        return out

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON for the console: Chinese labels next to every number."""
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "kind_label": KINDS_ZH.get(self.kind, self.kind),
            "is_marketing": self.is_marketing,
            "active": self.active,
            "total": sum(self.metrics[key] for key in PLANNED_KEYS),
            "metrics": [{"key": key, "label": zh, "value": self.metrics[key]} for key, zh, _ in METRICS],
            "suppressed": [
                {"reason": reason, "label": REASONS_ZH.get(reason, reason), "value": n}
                for reason, n in self.suppressed_by_reason.most_common()
            ],
            "channels": [
                {"channel": channel, "label": CHANNEL_ZH.get(channel, channel),
                 **{key: counts[key] for key in (*PLANNED_KEYS, "replied", "opted_out")}}
                for channel, counts in sorted(self.by_channel.items()) if channel != "none"
            ],
            "failed": [
                {"reason": reason, "label": _reason_zh(reason), "value": n}
                for reason, n in self.failed_by_reason.most_common()
            ],
            "sms": {"segments": self.sms_segments, "price_per_segment": str(self.price_per_segment),
                    "estimated_cost": str(self.sms_cost)},
            "variants": [
                {
                    "variant": variant,
                    "delivered": counts["delivered"],
                    "replied": counts["replied"],
                }
                for variant, counts in sorted(self.by_variant.items())
            ],
        }


# Each outbox row is in exactly one of these (replied and opted out are counted on top).
PLANNED_KEYS = ("delivered", "pending", "deferred", "suppressed", "failed")
KINDS_ZH = {
    "birthday": "生日祝福",
    "festival": "节日问候",
    "holiday_notice": "节假日营业安排",
    "reminder": "服务提醒",
    "reactivation": "久未交易客户关怀",
    "promotion": "产品推荐",
}
_STATUS_METRIC: dict[str, str] = {
    DeliveryStatus.SENT: "delivered",
    DeliveryStatus.PLANNED: "pending",
    DeliveryStatus.SENDING: "pending",
    DeliveryStatus.DEFERRED: "deferred",
    DeliveryStatus.SUPPRESSED: "suppressed",
    DeliveryStatus.FAILED: "failed",  # waiting for a retry
    DeliveryStatus.DEAD: "failed",
}


def build(session: Session, code: str) -> CampaignReport:
    """The report of campaign ``code`` (what ``bankcare care report CODE`` prints)."""
    campaign = session.scalars(select(Campaign).where(Campaign.code == code)).first()
    if campaign is None:
        raise UnknownCampaign(code)
    return _reports(session, [campaign])[0]


def build_all(session: Session) -> list[CampaignReport]:
    """Reports of every campaign, by code, in one grouped query (the console's campaign list)."""
    return _reports(session, list(session.scalars(select(Campaign).order_by(Campaign.code))))


def _reports(session: Session, campaigns: list[Campaign]) -> list[CampaignReport]:
    reports = {
        c.id: CampaignReport(c.code, c.name, kind=c.kind, is_marketing=c.is_marketing, active=c.active)
        for c in campaigns
    }
    if not reports:
        return []
    failure = case((Delivery.status.in_((DeliveryStatus.DEAD, DeliveryStatus.FAILED)), Delivery.last_error))
    billed = case((Delivery.status != DeliveryStatus.SUPPRESSED, _SEGMENTS), else_=0)
    rows = session.execute(
        select(
            Delivery.campaign_id,
            Delivery.status,
            Delivery.reason,
            Delivery.variant,
            Delivery.channel,
            failure.label("failure"),
            func.count(),
            func.count(Delivery.replied_at),
            func.count(Delivery.opted_out_at),
            func.sum(case((Delivery.channel == SMS, billed), else_=0)),
        )
        .where(Delivery.campaign_id.in_(list(reports)))
        .group_by(Delivery.campaign_id, Delivery.status, Delivery.reason, Delivery.variant, Delivery.channel,
                  failure)
    )
    for campaign_id, status, reason, variant, channel, failed_code, n, replied, opted, segments in rows:
        report = reports.get(campaign_id or 0)
        if report is None:  # cannot happen (the WHERE), but keeps a NULL campaign_id out
            continue
        key = _STATUS_METRIC.get(status, status)
        report.metrics[key] += n
        report.metrics["replied"] += replied
        report.metrics["opted_out"] += opted
        if status == DeliveryStatus.SUPPRESSED:
            report.suppressed_by_reason[reason or "unknown"] += n
        if key == "failed":
            report.failed_by_reason[_failure(reason, failed_code)] += n
        per = report.by_channel.setdefault(channel or "none", Counter())
        per[key] += n
        per["replied"] += replied
        per["opted_out"] += opted
        report.sms_segments += int(segments or 0)
        if variant:
            v = report.by_variant.setdefault(variant, Counter())
            v[key] += n
            v["replied"] += replied
    return list(reports.values())


def _failure(reason: str | None, code: str | None) -> str:
    """``undelivered:MN:0001`` for a carrier's verdict, else the dispatcher's reason."""
    if reason == "undelivered" and code:
        return f"undelivered:{code}"
    return reason or code or "unknown"


def _reason_zh(reason: str) -> str:
    if reason.startswith("undelivered:"):
        return f"{REASONS_ZH['undelivered']}（{reason.split(':', 1)[1]}）"
    return REASONS_ZH.get(reason, reason)


KNOWN_CJK_FILES = ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
CJK_FONTS = (
    "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans CJK", "Source Han Sans", "SimHei"
)


def cjk_font_path() -> str | None:
    """A CJK font file (fonts-wqy-microhei first) for one figure's texts; None without one.

    Set per text with ``fontproperties=``: setting it in the global rcParams after the axes exist
    leaves the labels as empty boxes and changes every later figure of the process (#21).
    """
    from matplotlib import font_manager

    for known in KNOWN_CJK_FILES:  # matplotlib's font cache may predate the font's installation
        if Path(known).is_file():
            return known
    for name in CJK_FONTS:
        for font in font_manager.fontManager.ttflist:
            if font.name.startswith(name):
                return str(font.fname)
    return None


def write_png(report: CampaignReport, path: Path) -> None:
    """Bar chart of the report; Chinese labels when a CJK font is installed, English otherwise.

    A campaign with nothing to count yet says so in the frame instead of drawing empty axes.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib.figure import Figure

    font_file = cjk_font_path()
    font = font_manager.FontProperties(fname=font_file) if font_file else None
    labels = [zh if font else en for _, zh, en in METRICS]
    values = [report.metrics[key] for key, _, _ in METRICS]
    fig = Figure(figsize=(8, 4), dpi=100)
    ax = fig.subplots()
    ax.set_title(f"{report.code}" + (f" {report.name}" if font else ""), fontproperties=font)
    if not any(values):
        ax.set_axis_off()
        empty = "还没有发送或计划的消息" if font else "nothing sent or planned yet"
        ax.text(0.5, 0.5, empty, ha="center", va="center", fontsize=14, fontproperties=font, transform=ax.transAxes)
    else:
        bars = ax.bar(
            range(len(values)),
            values,
            color=["#2e7d32", "#90a4ae", "#f9a825", "#8d6e63", "#c62828", "#1565c0", "#6a1b9a"][: len(values)],
        )
        ax.bar_label(bars)
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(labels, fontproperties=font, rotation=20 if len(values) > 6 else 0)
        ax.set_ylabel("消息数" if font else "messages", fontproperties=font)
    fig.tight_layout()
    fig.savefig(path, format="png")
