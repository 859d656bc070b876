"""Branches: find by name or town, nearest to a shared location, opening hours by calendar."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from enum import StrEnum

import chinese_calendar
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import Branch, Customer

EARTH_RADIUS_KM = 6371.0088


class DayKind(StrEnum):
    WORKDAY = "workday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"  # statutory holiday (法定节假日)
    ADJUSTED_WORKDAY = "adjusted_workday"  # weekend day worked in exchange for a holiday (调休上班)


@dataclass(frozen=True)
class BranchInfo:
    id: int
    name: str
    town: str
    address: str
    phone: str
    latitude: float
    longitude: float
    opening_hours: dict[str, list[str] | None]
    appointment_capacity: int
    distance_km: float | None = None
    window_capacity: int | None = None  # bookings per half day (上午/下午); None = the day's limit only


def _info(b: Branch, distance: float | None = None) -> BranchInfo:
    return BranchInfo(
        b.id,
        b.name,
        b.town,
        b.address,
        b.phone,
        b.latitude,
        b.longitude,
        dict(b.opening_hours or {}),
        b.appointment_capacity,
        distance,
        b.window_capacity,
    )


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def nearest_branches(session: Session, latitude: float, longitude: float, limit: int = 3) -> list[BranchInfo]:
    scored = [
        _info(b, haversine_km(latitude, longitude, b.latitude, b.longitude))
        for b in session.scalars(select(Branch))
    ]
    scored.sort(key=lambda b: b.distance_km or 0.0)
    return scored[:limit]


def _norm(text: str) -> str:
    for suffix in ("营业部", "分理处", "支行", "网点", "营业所", "信用社"):
        text = text.replace(suffix, "")
    return text.strip()


def find_branches(session: Session, query: str) -> list[BranchInfo]:
    """Branches whose name or town matches what the customer said (城关, 城关镇, 城关支行 ...)."""
    q = _norm(query or "")
    if not q:
        return []
    branches = list(session.scalars(select(Branch).order_by(Branch.id)))
    exact = [b for b in branches if q in (b.town, _norm(b.name))]
    if exact:
        return [_info(b) for b in exact]
    # 城关 matches 城关镇; 石桥镇 matches 石桥; a town's first two characters catch 王集 → 王集镇.
    loose = [b for b in branches if q in b.town or b.town in q or q in b.name or b.town[:2] == q[:2]]
    return [_info(b) for b in loose]


def all_branches(session: Session) -> list[BranchInfo]:
    """Every branch, in the bank's order (e.g. which ones open at weekends)."""
    return [_info(b) for b in session.scalars(select(Branch).order_by(Branch.id))]


def day_kind(day: dt.date) -> DayKind:
    """Classify a day with the State Council holiday calendar.

    chinesecalendar only knows the years it was released for and raises NotImplementedError
    beyond them; then plain weekday rules apply.
    """
    try:
        on_holiday, holiday_name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return DayKind.WEEKEND if day.weekday() >= 5 else DayKind.WORKDAY
    weekend = day.weekday() >= 5
    if on_holiday and holiday_name is not None:
        return DayKind.HOLIDAY
    if on_holiday:
        return DayKind.WEEKEND
    return DayKind.ADJUSTED_WORKDAY if weekend else DayKind.WORKDAY


def hours_on(branch: BranchInfo, day: dt.date) -> tuple[str, str] | None:
    """Opening hours on ``day``, or None if closed.

    Workdays and adjusted workdays use weekday hours; weekends use weekend hours (null = closed);
    statutory holidays also use weekend hours, because rural branches keep a reduced counter
    open on holidays only where they open at weekends.
    """
    kind = day_kind(day)
    key = "weekday" if kind in (DayKind.WORKDAY, DayKind.ADJUSTED_WORKDAY) else "weekend"
    hours = branch.opening_hours.get(key)
    if not hours or len(hours) != 2:
        return None
    return str(hours[0]), str(hours[1])


def next_open_day(branch: BranchInfo, after: dt.date, within_days: int = 30) -> dt.date | None:
    for offset in range(1, within_days + 1):
        day = after + dt.timedelta(days=offset)
        if hours_on(branch, day) is not None:
            return day
    return None


def get_branch(session: Session, branch_id: int) -> BranchInfo | None:
    b = session.get(Branch, branch_id)
    return _info(b) if b else None


def home_branch(session: Session, customer_id: int) -> BranchInfo | None:
    """The branch a customer belongs to (their account branch), for hours and the branch finder (#20)."""
    customer = session.get(Customer, customer_id)
    return get_branch(session, customer.branch_id) if customer else None
