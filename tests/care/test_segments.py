import datetime as dt
import random
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from care import analytics
from care.definitions import load_into_db, read_files
from care.planner import plan_day
from care.segmentation import rebuild
from crm.models import Account, Delivery, Transaction
from crm.models.segments import SegmentMembership
from crm.segments import Thresholds, memberships, tier_of
from tests.care import factories as f

AS_OF = dt.date(2027, 2, 10)
UTC = dt.UTC


def test_tier_thresholds_are_configurable():
    t = Thresholds()
    assert [tier_of(x, t) for x in (0, 49999.99, 50000, 500000, 6_000_000)] == [
        "普通",
        "普通",
        "潜力",
        "贵宾",
        "私行",
    ]
    assert tier_of(20000, Thresholds(potential=Decimal("10000"))) == "潜力"


def test_association_rules_support_confidence_lift():
    baskets = [frozenset(x) for x in (["存", "贷"], ["存", "贷"], ["存"], ["卡"])]
    rules = {(r["antecedent"], r["consequent"]): r for r in analytics.association_rules(baskets, 0.1, 0.1)}
    r = rules[("贷", "存")]
    assert (r["support"], r["confidence"], r["lift"]) == (0.5, 1.0, round(1.0 / 0.75, 3))
    assert rules[("存", "贷")]["confidence"] == round(2 / 3, 4)


def test_rfm_ranks_recent_frequent_rich_customers_higher():
    def feat(i, recency, txns, aum):
        return analytics.Features(
            as_of=AS_OF,
            customer_id=i,
            kind="个人",
            occupation="种植户",
            age=40,
            tenure_days=1000,
            aum=aum,
            txn_90d=0,
            txn_prev_90d=0,
            txn_365d=txns,
            volume_365d=0.0,
            last_txn=AS_OF - dt.timedelta(days=recency),
            products=frozenset(),
        )

    scores = analytics.rfm([feat(i, 300 - i * 30, i * 5, i * 10000.0) for i in range(10)])
    assert scores[-1][0] == "R5F5M5" and scores[0][0] == "R1F1M1"
    assert scores[-1][1] > scores[5][1] > scores[0][1]


def _add_txns(s, acct, days_ago):
    for d in days_ago:
        s.add(
            Transaction(
                account_id=acct.id,
                booked_at=dt.datetime.combine(AS_OF - dt.timedelta(days=d), dt.time(2), tzinfo=UTC),
                amount=Decimal("-100"),
                balance_after=acct.balance,
                channel="柜面",
                summary="取现",
            )
        )


@pytest.fixture
def bank(session):
    rng = random.Random(3)
    b = f.branch(session)
    p = f.product(session)
    kinds = []
    for i in range(80):
        c = f.customer(session, b, name=f"张{i}华", opened_on=dt.date(2020, 1, 1))
        balance = Decimal(rng.choice(["1000", "80000", "800000"]))
        acct = Account(
            customer_id=c.id,
            account_no=f"AC{c.id:010d}",
            kind="活期储蓄",
            balance=balance,
            opened_on=dt.date(2020, 1, 1),
        )
        session.add(acct)
        session.flush()
        profile = i % 4
        if profile == 0:  # steady
            _add_txns(session, acct, range(1, 360, 12))
        elif profile == 1:  # stopped 100 days ago: churned
            _add_txns(session, acct, range(100 + rng.randint(0, 5), 360, 10))
        elif profile == 2:  # dormant
            _add_txns(session, acct, [300])
        else:  # mostly steady, some noise
            _add_txns(session, acct, range(rng.randint(1, 20), 360, 15))
        if i % 3 == 0:
            f.deposit(session, c, p, AS_OF + dt.timedelta(days=100))
        if i % 2 == 0:
            f.card(session, c, dt.date(2030, 1, 31))
        kinds.append(profile)
    newbie = f.customer(session, b, opened_on=AS_OF - dt.timedelta(days=10), name="李新")
    session.flush()
    return newbie


def test_rebuild_stores_versioned_memberships_with_metrics(session, bank):
    v1 = rebuild(session, AS_OF, progress=False)
    assert v1.version == 1 and v1.customers == 81
    dims = set(session.scalars(select(SegmentMembership.dimension).distinct()))
    assert dims == {"tier", "kind", "lifecycle", "occupation", "season", "rfm", "cluster", "churn"}
    assert memberships(session, bank.id)["lifecycle"] == "new"
    assert memberships(session, bank.id)["season"] == "春耕备耕"
    lifecycles = v1.metrics["counts"]["lifecycle"]
    assert lifecycles["dormant"] >= 20 and lifecycles["active"] >= 20
    auc = v1.metrics["churn_auc"]
    assert auc is not None and 0.7 <= auc <= 1.0
    assert len(v1.metrics["clusters"]) == 4 and all("万元" in c["profile"] for c in v1.metrics["clusters"])
    rule = next(r for r in v1.metrics["rules"] if (r["antecedent"], r["consequent"]) == ("DEP-1Y", "借记卡"))
    # 27 deposit holders (i % 3 == 0), 14 of them also hold a card (i % 6 == 0); 40 card holders of 81
    assert rule["support"] == round(14 / 81, 4) and rule["confidence"] == round(14 / 27, 4)
    v2 = rebuild(session, AS_OF, progress=False)
    assert v2.version == 2
    per_version = dict(
        session.execute(
            select(SegmentMembership.version, func.count()).group_by(SegmentMembership.version)
        ).all()
    )
    assert per_version[1] == per_version[2] == 81 * 8


def test_promotion_targets_segments_and_records_version(session, bank):
    load_into_db(session, read_files())
    rebuild(session, AS_OF, progress=False)
    version = rebuild(session, AS_OF, progress=False).version
    result = plan_day(session, dt.date(2027, 2, 18), codes=["promo_spring_deposit"])
    tiers = {d.customer_id: memberships(session, d.customer_id)["tier"] for d in result.decisions}
    assert tiers and set(tiers.values()) <= {"潜力", "贵宾", "私行"}
    rows = session.scalars(select(Delivery)).all()
    assert {r.segment_version for r in rows} == {version}
    assert {r.variant for r in rows} == {"A", "B"}
