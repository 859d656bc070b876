"""Did a promotion work? Product opened by the customers sent it versus the hold-out group not sent (#21).

The planner leaves a random share of each promotion's audience out (``care.planner.in_holdout``,
recorded as suppressed rows with reason ``holdout``). Conversion is the share of each group that
opened the promoted product (``product_code``: a term deposit or a loan) within ``window_days`` of
the planned send day; uplift is the difference, with a 95 % normal-approximation interval.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import Campaign, Delivery, Loan, Product, TermDeposit
from crm.models.care import DeliveryStatus

Z95 = 1.96
DEFAULT_WINDOW_DAYS = 30
HOLDOUT = "holdout"


@dataclass(frozen=True)
class Conversion:
    product_code: str
    window_days: int
    targeted: int
    targeted_converted: int
    holdout: int
    holdout_converted: int

    @property
    def targeted_rate(self) -> float | None:
        return self.targeted_converted / self.targeted if self.targeted else None

    @property
    def holdout_rate(self) -> float | None:
        return self.holdout_converted / self.holdout if self.holdout else None

    @property
    def uplift(self) -> tuple[float, float, float] | None:
        """(difference, low, high) in shares; None until both groups have someone."""
        p1, p0 = self.targeted_rate, self.holdout_rate
        if p1 is None or p0 is None:
            return None
        se = math.sqrt(p1 * (1 - p1) / self.targeted + p0 * (1 - p0) / self.holdout)
        diff = p1 - p0
        return diff, diff - Z95 * se, diff + Z95 * se

    def as_dict(self) -> dict[str, object]:
        up = self.uplift
        return {
            "product_code": self.product_code,
            "window_days": self.window_days,
            "targeted": self.targeted,
            "targeted_converted": self.targeted_converted,
            "targeted_rate": self.targeted_rate,
            "holdout": self.holdout,
            "holdout_converted": self.holdout_converted,
            "holdout_rate": self.holdout_rate,
            "uplift": None if up is None else {"value": up[0], "low": up[1], "high": up[2]},
            "text": self.text(),
        }

    def text(self) -> str:
        if not self.targeted or not self.holdout:
            return f"尚无可比较的数据：已发送 {self.targeted} 人，对照组 {self.holdout} 人。"
        up = self.uplift
        assert up is not None
        p1, p0 = self.targeted_rate or 0.0, self.holdout_rate or 0.0
        return (
            f"{self.window_days}天内开通{self.product_code}："
            f"发送组 {p1:.1%}（{self.targeted_converted}/{self.targeted}），"
            f"对照组 {p0:.1%}（{self.holdout_converted}/{self.holdout}）；提升 {up[0] * 100:+.1f} 个百分点"
            f"（95% 置信区间 {up[1] * 100:+.1f} 至 {up[2] * 100:+.1f}）。"
        )


def conversion(
    session: Session, code: str, *, window_days: int = DEFAULT_WINDOW_DAYS, tz: str = "Asia/Shanghai"
) -> Conversion | None:
    """The promotion's conversion by group, or None for a campaign without a product to open."""
    campaign = session.scalar(select(Campaign).where(Campaign.code == code))
    if campaign is None:
        return None
    product_code = (campaign.definition or {}).get("product_code")
    product = session.scalar(select(Product).where(Product.code == product_code)) if product_code else None
    if product is None:
        return None
    zone = ZoneInfo(tz)
    rows = session.execute(
        select(Delivery.customer_id, Delivery.status, Delivery.reason, Delivery.not_before, Delivery.sent_at).where(
            Delivery.campaign_id == campaign.id
        )
    ).all()
    targeted: dict[int, dt.date] = {}
    held: dict[int, dt.date] = {}
    for cid, status, reason, not_before, sent_at in rows:
        if status == DeliveryStatus.SENT:
            targeted[cid] = (sent_at or not_before).astimezone(zone).date()
        elif status == DeliveryStatus.SUPPRESSED and reason == HOLDOUT:
            held[cid] = not_before.astimezone(zone).date()
    opened = _opened(session, product.id, set(targeted) | set(held))

    def converted(group: dict[int, dt.date]) -> int:
        window = dt.timedelta(days=window_days)
        return sum(1 for cid, start in group.items() if any(start <= d <= start + window for d in opened.get(cid, ())))

    return Conversion(product.code, window_days, len(targeted), converted(targeted), len(held), converted(held))


def _opened(session: Session, product_id: int, customers: set[int]) -> dict[int, list[dt.date]]:
    out: dict[int, list[dt.date]] = {}
    if not customers:
        return out
    ids = list(customers)
    for model in (TermDeposit, Loan):
        for cid, start in session.execute(
            select(model.customer_id, model.start_on).where(model.product_id == product_id, model.customer_id.in_(ids))
        ):
            out.setdefault(cid, []).append(start)
    return out
