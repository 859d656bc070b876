import datetime as dt
from collections import Counter

import pytest
from sqlalchemy import func, select

from care import calendar as cal
from care.compliance import Policy
from care.definitions import load_into_db, parse, read_files
from care.planner import plan_day
from care.sources import variant_for
from crm.models import Delivery
from crm.models.care import DeliveryStatus
from tests.care import factories as f

D = dt.date
UTC = dt.UTC


@pytest.fixture
def loaded(session):
    load_into_db(session, read_files())
    session.flush()
    return session


def statuses(session, code=None):
    stmt = select(Delivery)
    rows = session.scalars(stmt).all()
    return {
        (d.idempotency_key.split(":")[0], d.customer_id): (d.status, d.reason)
        for d in rows
        if code is None or d.idempotency_key.startswith(code)
    }


def test_birthday_planned_at_nine_local_and_consent_and_channel_respected(loaded):
    s = loaded
    b = f.branch(s)
    day = D(2026, 5, 12)
    ok = f.customer(s, b, birthday=D(1980, 5, 12))
    refused = f.customer(s, b, birthday=D(1981, 5, 12), consent=False)
    never_asked = f.customer(s, b, birthday=D(1982, 5, 12), consent=None)
    unreachable = f.customer(s, b, birthday=D(1983, 5, 12), channel=None)
    f.customer(s, b, birthday=D(1980, 5, 13))  # not today
    result = plan_day(s, day, codes=["birthday_greeting"])
    got = statuses(s)
    assert got == {
        ("birthday_greeting", ok.id): (DeliveryStatus.PLANNED, None),
        ("birthday_greeting", refused.id): (DeliveryStatus.SUPPRESSED, "no_consent"),
        ("birthday_greeting", never_asked.id): (DeliveryStatus.SUPPRESSED, "no_consent"),
        # Not following the WeChat account: the greeting goes by SMS (channels: wechat_then_sms).
        ("birthday_greeting", unreachable.id): (DeliveryStatus.PLANNED, None),
    }
    by_sms = s.scalars(select(Delivery).where(Delivery.customer_id == unreachable.id)).one()
    assert (by_sms.channel, by_sms.sms_template) == ("sms", "birthday_greeting")
    assert by_sms.text.startswith("【XX农商银行】") and by_sms.text.endswith("拒收请回复R")
    row = s.scalars(select(Delivery).where(Delivery.customer_id == ok.id)).one()
    assert row.not_before == dt.datetime(2026, 5, 12, 1, 0, tzinfo=UTC)  # 09:00 Asia/Shanghai
    assert row.text.startswith("张先生，生日快乐") and row.text.endswith('回复"退订"即可取消此类消息。')
    assert row.idempotency_key == f"birthday_greeting:{ok.id}:2026"
    assert result.inserted == 4


def test_planning_twice_enqueues_once(loaded):
    s = loaded
    b = f.branch(s)
    f.customer(s, b, birthday=D(1980, 5, 12))
    first = plan_day(s, D(2026, 5, 12), codes=["birthday_greeting"])
    second = plan_day(s, D(2026, 5, 12), codes=["birthday_greeting"])
    assert first.inserted == 1 and second.inserted == 0
    assert s.scalar(select(func.count()).select_from(Delivery)) == 1
    assert [d.reason for d in second.decisions] == ["already_planned"]


def test_leap_day_birthday_is_celebrated_on_feb_28(loaded):
    s = loaded
    c = f.customer(s, f.branch(s), birthday=D(1988, 2, 29))
    plan_day(s, D(2027, 2, 28), codes=["birthday_greeting"])
    assert statuses(s) == {("birthday_greeting", c.id): (DeliveryStatus.PLANNED, None)}


def test_daily_cap_lets_birthday_win_over_festival(loaded):
    s = loaded
    b = f.branch(s)
    spring = next(x.date for x in cal.festival_dates(2026) if x.code == "spring_festival")
    both = f.customer(s, b, birthday=D(1970, spring.month, spring.day))
    only_festival = f.customer(s, b, birthday=D(1970, 1, 1))
    plan_day(s, spring, codes=["birthday_greeting", "festival_greetings"])
    got = statuses(s)
    assert got[("birthday_greeting", both.id)] == (DeliveryStatus.PLANNED, None)
    assert got[("festival_greetings", both.id)] == (DeliveryStatus.SUPPRESSED, "frequency_cap_day")
    assert got[("festival_greetings", only_festival.id)] == (DeliveryStatus.PLANNED, None)


def test_weekly_cap_counts_the_last_seven_days_and_is_configurable(loaded):
    s = loaded
    b = f.branch(s)
    c = f.customer(s, b, birthday=D(1970, 5, 12))
    for i, day in enumerate((D(2026, 5, 6), D(2026, 5, 9))):
        s.add(
            Delivery(
                customer_id=c.id,
                idempotency_key=f"old:{c.id}:{i}",
                channel="wechat",
                is_marketing=True,
                text="x",
                status=DeliveryStatus.SENT,
                not_before=dt.datetime(2026, 5, 1, tzinfo=UTC),
                local_day=day,
            )
        )
    s.flush()
    plan_day(s, D(2026, 5, 12), codes=["birthday_greeting"])
    assert statuses(s, "birthday_greeting")[("birthday_greeting", c.id)] == (
        DeliveryStatus.SUPPRESSED,
        "frequency_cap_week",
    )
    s.execute(Delivery.__table__.delete().where(Delivery.idempotency_key.like("birthday_greeting:%")))
    plan_day(s, D(2026, 5, 12), codes=["birthday_greeting"], policy=Policy(max_marketing_per_week=3))
    assert statuses(s, "birthday_greeting")[("birthday_greeting", c.id)] == (DeliveryStatus.PLANNED, None)


def test_quiet_hours_defer_to_eight_never_drop(loaded):
    s = loaded
    c = f.customer(s, f.branch(s), birthday=D(1970, 5, 12))
    late = parse(
        {
            "code": "late_birthday",
            "name": "晚间",
            "kind": "birthday",
            "is_marketing": True,
            "send_time": "22:30",
            "template": "{{ salutation }}生日快乐",
        }
    )
    load_into_db(s, [late])
    plan_day(s, D(2026, 5, 12), codes=["late_birthday"])
    row = s.scalars(select(Delivery).where(Delivery.customer_id == c.id)).one()
    assert (row.status, row.reason) == (DeliveryStatus.DEFERRED, "quiet_hours")
    assert row.not_before == dt.datetime(2026, 5, 13, 0, 0, tzinfo=UTC)  # 08:00 next morning local


def test_double_ninth_only_for_sixty_and_over(loaded):
    s = loaded
    b = f.branch(s)
    day = next(x.date for x in cal.festival_dates(2026) if x.code == "double_ninth")
    elder = f.customer(s, b, birthday=D(1960, 1, 1))
    young = f.customer(s, b, birthday=D(1990, 1, 1), name="王芳", gender="F")
    just_sixty = f.customer(s, b, birthday=D(day.year - 60, day.month, day.day))
    plan_day(s, day, codes=["festival_greetings"])
    got = statuses(s)
    assert ("festival_greetings", elder.id) in got and ("festival_greetings", just_sixty.id) in got
    assert ("festival_greetings", young.id) not in got


def test_service_reminders_bypass_consent_and_caps(loaded):
    s = loaded
    b = f.branch(s)
    r = f.rm(s, b, name="陈晓")
    p = f.product(s)
    day = D(2026, 6, 1)
    c = f.customer(s, b, consent=False, rm_id=r.id, name="王秀英", gender="F")
    td7 = f.deposit(s, c, p, day + dt.timedelta(days=7))
    f.deposit(s, c, p, day + dt.timedelta(days=1), amount="12345.6")
    f.deposit(s, c, p, day + dt.timedelta(days=3))  # no reminder 3 days before maturity
    f.installment(s, c, p, day + dt.timedelta(days=3))
    f.installment(s, c, p, day)
    f.card(s, c, day + dt.timedelta(days=30), card_no="6230580000001234")
    result = plan_day(s, day)
    kinds = Counter(d.campaign for d in result.decisions if d.status == DeliveryStatus.PLANNED)
    assert kinds == {"deposit_maturity_reminder": 2, "loan_repayment_reminder": 2, "card_expiry_reminder": 1}
    texts = {d.key: d.text for d in result.decisions}
    seven = texts[f"deposit_maturity_reminder:{c.id}:td{td7.id}:d7"]
    assert "王女士您好" in seven and "6月8日到期" in seven and "50,000.00元" in seven and "陈晓" in seven
    assert "退订" not in seven
    card_text = next(t for k, t in texts.items() if k.startswith("card_expiry"))
    assert "尾号1234" in card_text and "6230580000001234" not in card_text
    # Repayment reminders go by SMS only: the registered template, signature first, amount in 元.
    loan_texts = [t for k, t in texts.items() if k.startswith("loan_repayment")]
    assert any(t.startswith("【XX农商银行】王女士您好！您的贷款将于6月1日还款") for t in loan_texts)
    assert all(t.startswith("【XX农商银行】") and "元" in t for t in loan_texts)


def test_holiday_notice_three_days_before_with_branch_hours(loaded):
    s = loaded
    b = f.branch(s, hours={"weekday": ["08:30", "17:00"], "weekend": ["09:00", "16:00"], "holiday": None})
    c = f.customer(s, b)
    result = plan_day(s, D(2026, 9, 28), codes=["holiday_notice"])
    (decision,) = result.decisions
    assert decision.customer_id == c.id and decision.status == DeliveryStatus.PLANNED
    assert "国庆节假期为10月1日至10月7日" in decision.text
    assert "暂停营业" in decision.text and "正常上班" in decision.text
    assert plan_day(s, D(2026, 9, 27), codes=["holiday_notice"]).decisions == []


def test_preview_writes_nothing_and_masks_names(loaded):
    s = loaded
    f.customer(s, f.branch(s), birthday=D(1980, 5, 12), name="张建华")
    result = plan_day(s, D(2026, 5, 12), dry_run=True)
    # birthday takes the day's marketing slot; the dormant-customer message is capped, even in a preview
    assert [(d.campaign, d.name_masked, d.reason) for d in result.decisions] == [
        ("birthday_greeting", "张*华", None),
        ("dormant_reactivation", "张*华", "frequency_cap_day"),
    ]
    assert s.scalar(select(func.count()).select_from(Delivery)) == 0


def test_ab_variants_are_stable_and_balanced():
    weights = {"A": 50, "B": 50}
    first = [variant_for("promo", i, weights) for i in range(2000)]
    assert first == [variant_for("promo", i, weights) for i in range(2000)]
    share = first.count("A") / len(first)
    assert 0.45 < share < 0.55
    assert {variant_for("promo", i, {"A": 100, "B": 0}) for i in range(50)} == {"A"}
