"""Promotions keep a random hold-out group, and conversion is measured against it (#21)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from care import campaign_status
from care.conversion import conversion
from care.definitions import load_into_db, read_files
from care.planner import in_holdout
from crm.models import AuditEvent, Campaign, Delivery
from tests.care import factories as f

PROMO = "promo_spring_deposit"
SENT_AT = dt.datetime(2027, 2, 18, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def test_hold_out_is_about_a_tenth_random_and_stable() -> None:
    promo = next(d for d in read_files() if d.code == PROMO)
    held = [cid for cid in range(1, 5001) if in_holdout(PROMO, cid, promo)]
    assert 400 <= len(held) <= 600  # 10 % of 5,000, give or take sampling noise
    assert held == [cid for cid in range(1, 5001) if in_holdout(PROMO, cid, promo)]
    assert held != [cid for cid in range(1, 5001) if in_holdout("other_promo", cid, promo)]


def _delivery(session: Session, campaign: Campaign, customer_id: int, status: str, reason: str | None) -> None:
    session.add(Delivery(campaign_id=campaign.id, customer_id=customer_id, idempotency_key=f"t:{customer_id}",
                         channel="wechat", is_marketing=True, text="开门红", status=status, reason=reason,
                         not_before=SENT_AT, sent_at=SENT_AT if status == "sent" else None))  # fmt: skip


def test_product_opened_by_part_of_the_targeted_group_shows_uplift_over_the_hold_out(session: Session) -> None:
    load_into_db(session, read_files())
    campaign = session.scalar(select(Campaign).where(Campaign.code == PROMO))
    assert campaign is not None
    b = f.branch(session)
    product = f.product(session, "DEP-1Y")
    targeted = [f.customer(session, b, name=f"客户{i}") for i in range(40)]
    held = [f.customer(session, b, name=f"对照{i}") for i in range(20)]
    for c in targeted:
        _delivery(session, campaign, c.id, "sent", None)
    for c in held:
        _delivery(session, campaign, c.id, "suppressed", "holdout")
    opened_on = dt.date(2027, 2, 25)
    for c in targeted[:16]:  # 40 % of those sent the message open the promoted deposit within the window
        f.deposit(session, c, product, opened_on + dt.timedelta(days=365))
    f.deposit(session, held[0], product, opened_on + dt.timedelta(days=365))  # 5 % of the hold-out do anyway
    f.deposit(session, targeted[20], product, dt.date(2027, 6, 1) + dt.timedelta(days=365))  # too late to count
    session.flush()

    result = conversion(session, PROMO, window_days=30)
    assert result is not None
    assert (result.targeted, result.targeted_converted, result.holdout, result.holdout_converted) == (40, 16, 20, 1)
    up = result.uplift
    assert up is not None
    assert abs(up[0] - 0.35) < 1e-9 and up[1] < up[0] < up[2] and up[1] > 0
    assert "提升 +35.0 个百分点" in result.text() and "95% 置信区间" in result.text()
    assert conversion(session, "birthday_greeting") is None  # nothing to open: no conversion claimed


def test_pause_and_resume_are_audited_and_the_outlook_tells_the_truth(session: Session) -> None:
    load_into_db(session, read_files())
    now = dt.datetime(2027, 2, 10, 4, 0, tzinfo=dt.UTC)
    outlook = campaign_status.status(session, PROMO, now, "Asia/Shanghai")
    assert outlook["next_planning"] == "2027-02-11 00:30"
    assert outlook["next_sending"] == "2027-02-18 10:00" and outlook["active"] is True
    assert campaign_status.set_active(session, PROMO, False, "rm:SUP004") is False
    paused = campaign_status.status(session, PROMO, now, "Asia/Shanghai")
    assert paused["active"] is False and "暂停" in paused["next_sending_note"] and paused["audience_today"] == 0
    assert campaign_status.set_active(session, PROMO, True, "rm:SUP004") is True
    actions = list(session.scalars(select(AuditEvent.action).where(AuditEvent.actor == "rm:SUP004")))
    assert actions == ["campaign_paused", "campaign_resumed"]
    late = campaign_status.status(session, PROMO, dt.datetime(2027, 3, 1, 4, 0, tzinfo=dt.UTC), "Asia/Shanghai")
    assert late["next_sending"] is None and "已过" in late["next_sending_note"]


def test_outlook_renders_a_masked_sample_for_a_real_customer_today(session: Session) -> None:
    load_into_db(session, read_files())
    b = f.branch(session)
    r = f.rm(session, b)
    f.customer(session, b, name="张建华", birthday=dt.date(1970, 2, 10), rm_id=r.id)
    now = dt.datetime(2027, 2, 10, 0, 0, tzinfo=dt.UTC)  # 08:00 in Shanghai, before the send time
    outlook = campaign_status.status(session, "birthday_greeting", now, "Asia/Shanghai")
    assert outlook["audience_today"] == 1
    sample = outlook["sample"]
    assert sample is not None and sample["customer"] == "张*华" and "张先生" in sample["text"]
    assert "张建华" not in str(outlook)
    assert session.scalar(select(Delivery.id)) is None  # the outlook plans nothing
