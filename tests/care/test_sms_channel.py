"""SMS as a campaign channel (#22): the 2,000-customer demo bank's 春节 preview, channel policies,
the daily SMS budget, caps across channels and the SMS report."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bankcare.cli import main
from care.definitions import DefinitionError, load_into_db, parse, read_files
from care.planner import plan_day
from care.report import build
from core.db import make_engine, make_sessionmaker, session_scope
from crm.demo.seed import seed_demo_bank
from crm.migrate import upgrade
from crm.models import Campaign, Delivery
from crm.models.care import DeliveryStatus
from crm.sms_templates import segments
from tests.care import factories as f

SPRING_FESTIVAL = "2027-02-06"
NOW = dt.datetime(2027, 2, 6, 1, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def demo_bank(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh 2,000-customer demo bank with the campaigns loaded (seeded once: ~4 s)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('demo2000') / 'bank.db'}"
    upgrade(url)
    seed_demo_bank(make_engine(url), customers=2000)
    with session_scope(make_sessionmaker(make_engine(url))) as s:
        load_into_db(s, read_files())
    yield url


def test_spring_festival_reaches_most_of_the_demo_bank_by_sms(demo_bank: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", demo_bank)
    assert main(["care", "preview", "--date", SPRING_FESTIVAL, "--campaign", "festival_greetings",
                 "--show-text", "--limit", "10"]) == 0
    out = capsys.readouterr().out
    planned = int(re.search(r"将发送：([\d,]+) 条", out).group(1).replace(",", ""))  # type: ignore[union-attr]
    by_sms = int(re.search(r"短信 ([\d,]+)", out.split("按渠道：")[1]).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert planned >= 1500 and by_sms > planned / 2
    # The exact SMS with its length and billing segments, and the day's estimated cost.
    sms = re.search(r"(【XX农商银行】.*拒收请回复R)\n\s+（短信 (\d+) 字，计费 (\d+) 条）", out)
    assert sms is not None, out[:2000]
    assert (len(sms.group(1)), segments(sms.group(1))) == (int(sms.group(2)), int(sms.group(3)))
    assert "新春快乐" in sms.group(1) and "预计" in out and "元" in out.split("短信计费：")[1]


def test_preview_counts_match_a_real_plan_and_the_report_shows_sms(demo_bank: str, tmp_path: Path) -> None:
    factory = make_sessionmaker(make_engine(demo_bank))
    with session_scope(factory) as s:
        preview = plan_day(s, dt.date(2027, 2, 6), dry_run=True, codes=["festival_greetings"])
        s.rollback()
    with session_scope(factory) as s:
        plan_day(s, dt.date(2027, 2, 6), codes=["festival_greetings"])
    with session_scope(factory) as s:
        rows = s.scalars(select(Delivery).where(Delivery.channel == "sms")).all()
        assert len(rows) == sum(1 for d in preview.decisions if d.channel == "sms" and d.status == "planned")
        assert all(r.sms_template == "spring_festival_greeting" and r.identity_id is None for r in rows)
        report = build(s, "festival_greetings")
    assert report.by_channel["sms"]["pending"] == len(rows)
    assert report.sms_segments == sum(segments(r.text) for r in rows)
    assert "短信计费" in "\n".join(report.lines())
    data = report.as_dict()
    assert data["sms"]["segments"] == report.sms_segments
    assert float(data["sms"]["estimated_cost"]) == pytest.approx(report.sms_segments * 0.045, abs=0.01)


@pytest.fixture
def loaded(session: Session) -> Session:
    load_into_db(session, read_files())
    session.flush()
    return session


def test_caps_count_across_channels_and_the_daily_sms_budget(loaded: Session) -> None:
    s = loaded
    b = f.branch(s)
    day = dt.date(2027, 2, 6)
    # Birthday on 春节: the birthday greeting (by SMS) takes the day's one marketing slot.
    by_sms = f.customer(s, b, birthday=dt.date(1970, 2, 6), channel=None)
    others = [f.customer(s, b, channel=None) for _ in range(4)]
    festival = s.scalars(select(Campaign).where(Campaign.code == "festival_greetings")).one()
    festival.definition = {**festival.definition, "sms_daily_budget": 2}
    s.flush()
    plan_day(s, day, codes=["birthday_greeting", "festival_greetings"])
    got = {(d.idempotency_key.split(":")[0], d.customer_id): (d.status, d.reason, d.channel)
           for d in s.scalars(select(Delivery))}
    assert got[("birthday_greeting", by_sms.id)] == (DeliveryStatus.PLANNED, None, "sms")
    assert got[("festival_greetings", by_sms.id)] == (DeliveryStatus.SUPPRESSED, "frequency_cap_day", "sms")
    festival_rows = Counter(got[("festival_greetings", c.id)][:2] for c in others)
    assert festival_rows == Counter({(DeliveryStatus.PLANNED, None): 2, (DeliveryStatus.SUPPRESSED, "sms_budget"): 2})
    # A WeChat greeting sent earlier today counts against the same daily cap as an SMS would.
    had_wechat = f.customer(s, b, channel=None)
    s.add(Delivery(customer_id=had_wechat.id, idempotency_key=f"other:{had_wechat.id}:1", channel="wechat",
                   is_marketing=True, text="…", status=DeliveryStatus.SENT, not_before=NOW, local_day=day))
    festival.definition = {**festival.definition, "sms_daily_budget": 10}
    s.flush()
    plan_day(s, day, codes=["festival_greetings"])
    capped = s.scalars(select(Delivery).where(Delivery.idempotency_key.like(f"festival_greetings:{had_wechat.id}:%")))
    assert [(d.status, d.reason) for d in capped] == [(DeliveryStatus.SUPPRESSED, "frequency_cap_day")]
    festival.definition = {**festival.definition, "sms_daily_budget": 2}
    s.flush()
    # Planning again the same day: the budget is spent, nothing more goes by SMS.
    plan_day(s, day, codes=["festival_greetings"])
    assert sum(1 for d in s.scalars(select(Delivery)) if d.channel == "sms" and d.status == "planned") == 3


def test_sms_only_reminders_need_service_sms_consent_not_marketing(loaded: Session) -> None:
    s = loaded
    b = f.branch(s)
    wechat_no_marketing = f.customer(s, b, consent=False)
    no_sms = f.customer(s, b, sms_service=False)
    loan_product = f.product(s, code="LN-1", kind="loan")
    for c in (wechat_no_marketing, no_sms):
        f.installment(s, c, loan_product, dt.date(2027, 3, 4))
    plan_day(s, dt.date(2027, 3, 1), codes=["loan_repayment_reminder"])
    got = {d.customer_id: (d.status, d.reason, d.channel) for d in s.scalars(select(Delivery))}
    # sms_only: even a WeChat follower gets the repayment reminder by SMS.
    assert got[wechat_no_marketing.id] == (DeliveryStatus.PLANNED, None, "sms")
    assert got[no_sms.id] == (DeliveryStatus.SUPPRESSED, "no_sms_consent", "wechat")


def test_definitions_check_the_sms_template() -> None:
    base = {"code": "x", "name": "测试", "kind": "birthday", "is_marketing": True, "template": "{{ salutation }}好"}
    assert parse({**base, "sms_template": "birthday_greeting"}).channels == "wechat_then_sms"
    assert parse(base).channels == "wechat_only"
    by_ids = parse({**base, "sms_template": {"tencent": "2190002", "aliyun": "SMS_482190002"}})
    assert by_ids.sms_template_for("default") == "birthday_greeting"
    with pytest.raises(DefinitionError, match="类型不一致"):
        parse({**base, "sms_template": "loan_repayment_reminder"})  # marketing with a service template
    with pytest.raises(DefinitionError, match="不是同一个模板"):
        parse({**base, "sms_template": {"tencent": "2190002", "aliyun": "SMS_482190003"}})
    with pytest.raises(DefinitionError, match="需要短信模板"):
        parse({**base, "channels": "sms_only"})
    with pytest.raises(DefinitionError, match="channels"):
        parse({**base, "sms_template": "birthday_greeting", "channels": "pigeon"})
