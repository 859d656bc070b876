"""Survey definitions, planning (audience, 90-day rule, consent, channels, quiet hours) and the
one-question-at-a-time flow, on small hand-built bank data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from care import survey_defs
from care.compliance import TZ
from care.definitions import DefinitionError
from care.survey_flow import take_message, working_days_after
from care.survey_planner import plan_surveys
from crm.models import (
    Account,
    Appointment,
    CallbackTask,
    ChannelIdentity,
    Delivery,
    SurveyAnswer,
    SurveyResponse,
    Transaction,
)
from crm.models.sms import SmsServiceConsent
from tests.care import factories as f

DAY = dt.date(2026, 12, 8)  # a Tuesday


def definition(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "code": "after_visit",
        "name": "网点服务评价",
        "audience": {"event": "branch_appointment", "delay_days": 1},
        "send_time": "10:30",
        "channels": "wechat_then_sms",
        "sms_template": "survey_csat_invite",
        "intro": "{{ salutation }}您好！感谢您到{{ branch_name }}办理业务。",
        "questions": [
            {"code": "csat", "kind": "csat", "text": "您满意吗？请回复1到5分。"},
            {"code": "best", "kind": "choice", "text": "哪方面最好？", "options": ["柜面服务", "手机银行"]},
            {"code": "comment", "kind": "text", "text": "还有什么建议吗？"},
        ],
    }
    raw.update(overrides)
    return raw


def load(session: Session, **overrides: Any) -> None:
    survey_defs.load_into_db(session, [survey_defs.parse(definition(**overrides))])


def visited(session: Session, **kw: Any) -> int:
    """A customer with a branch appointment the day before DAY; returns the id."""
    b = f.branch(session)
    c = f.customer(session, b, **kw)
    session.merge(SmsServiceConsent(customer_id=c.id, granted=True, source="开户"))
    session.add(Appointment(ref=f"AP{c.id}", customer_id=c.id, branch_id=b.id, on_date=DAY - dt.timedelta(days=1),
                            service="开卡", idempotency_key=f"ap-{c.id}"))  # fmt: skip
    session.flush()
    return c.id


def test_shipped_definitions_and_broken_ones() -> None:
    assert {d.code for d in survey_defs.read_files()} >= {"quarterly_nps", "after_appointment"}
    with pytest.raises(DefinitionError, match="audience.event"):
        survey_defs.parse(definition(audience={"event": "birthday"}))
    with pytest.raises(DefinitionError, match="sms_template"):
        survey_defs.parse(definition(sms_template=None))
    with pytest.raises(DefinitionError, match="单选题"):
        survey_defs.parse(definition(questions=[{"kind": "choice", "text": "?", "options": ["只有一个"]}]))
    with pytest.raises(DefinitionError, match="第一个问题"):
        survey_defs.parse(definition(questions=[{"kind": "text", "text": "说说看"}]))


def test_event_audience_planned_on_chat_with_the_first_question(session: Session) -> None:
    cid = visited(session)
    load(session)
    plan = plan_surveys(session, DAY)
    assert plan.counts[("after_visit", "planned")] == 1
    row = session.scalars(select(Delivery)).one()
    assert (row.customer_id, row.channel, row.is_marketing, row.campaign_id) == (cid, "wechat", False, None)
    assert "感谢您到城关支行办理业务" in row.text and "您满意吗" in row.text and "不想答" in row.text
    assert row.not_before == dt.datetime.combine(DAY, dt.time(10, 30), tzinfo=TZ)
    response = session.scalars(select(SurveyResponse)).one()
    assert (response.delivery_key, response.channel, response.invited_on) == (row.idempotency_key, "wechat", DAY)
    # Planning again changes nothing.
    again = plan_surveys(session, DAY)
    assert again.counts[("after_visit", "already_planned")] == 1 and again.inserted == 0


def test_quiet_hours_defer_and_sms_when_there_is_no_chat(session: Session) -> None:
    visited(session, channel=None)
    load(session, send_time="22:00")
    plan_surveys(session, DAY)
    row = session.scalars(select(Delivery)).one()
    assert (row.channel, row.status, row.reason, row.sms_template) == ("sms", "deferred", "quiet_hours",
                                                                       "survey_csat_invite")  # fmt: skip
    assert row.text.startswith("【") and "回复1-5的数字" in row.text
    assert row.not_before == dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(8, 0), tzinfo=TZ)


def test_refusals_and_no_channel_are_suppressed_without_a_survey(session: Session) -> None:
    visited(session, consent=False)  # 退订: a refusal for every channel
    unreachable = visited(session, channel=None)
    session.merge(SmsServiceConsent(customer_id=unreachable, granted=False, source="柜面"))
    load(session)
    plan = plan_surveys(session, DAY)
    assert plan.counts[("after_visit", "opted_out")] == 1
    assert plan.counts[("after_visit", "no_channel")] == 1
    assert {r.status for r in session.scalars(select(Delivery))} == {"suppressed"}
    assert session.scalars(select(SurveyResponse)).all() == []


@pytest.mark.parametrize(("days_ago", "min_days", "asked"), [(30, 90, False), (100, 90, True), (30, 20, True)])
def test_at_most_one_survey_per_customer_in_the_window(
    session: Session, days_ago: int, min_days: int, asked: bool
) -> None:
    cid = visited(session)
    load(session, min_days_between=min_days)
    earlier = DAY - dt.timedelta(days=days_ago)
    session.add(SurveyResponse(
        survey_id=1, customer_id=cid, delivery_key="survey:older:1", channel="wechat", trigger="segment",
        status="completed", question_index=3, misses=0, invited_on=earlier,
        expires_at=dt.datetime.combine(earlier, dt.time(), tzinfo=TZ),
    ))  # fmt: skip
    plan = plan_surveys(session, DAY)
    assert plan.counts[("after_visit", "planned")] == (1 if asked else 0)
    assert plan.counts[("after_visit", "recently_surveyed")] == (0 if asked else 1)


def test_quarterly_sample_of_active_customers_in_the_first_days_of_a_quarter(session: Session) -> None:
    b = f.branch(session)
    active, idle = f.customer(session, b), f.customer(session, b)
    for c in (active, idle):
        session.add(Account(customer_id=c.id, account_no=f"62{c.id:012d}", kind="活期", balance=Decimal("100"),
                            opened_on=dt.date(2020, 1, 1)))  # fmt: skip
    session.flush()
    account = session.scalar(select(Account).where(Account.customer_id == active.id))
    assert account is not None
    session.add(Transaction(account_id=account.id, booked_at=dt.datetime(2026, 12, 20, 2, tzinfo=dt.UTC),
                            amount=Decimal("-50"), balance_after=Decimal("50"), channel="柜面", summary="取现"))
    session.flush()
    load(session, code="quarterly", audience={"event": "quarterly_sample", "sample_rate": 1.0})
    plan = plan_surveys(session, dt.date(2027, 1, 4))
    assert [i.customer_id for i in plan.invitations] == [active.id]
    assert plan.invitations[0].key.endswith(":2027Q1")
    assert plan_surveys(session, dt.date(2027, 2, 15)).invitations == []  # outside the quarter's window


def _open(session: Session) -> SurveyResponse:
    visited(session)
    load(session)
    plan_surveys(session, DAY)
    response = session.scalars(select(SurveyResponse)).one()
    return response


def test_flow_choice_by_number_or_words_comment_masked_and_callback_for_a_low_score(session: Session) -> None:
    response = _open(session)
    now = dt.datetime(2026, 12, 8, 3, tzinfo=dt.UTC)
    turn = take_message(session, response, "不咋地", now)
    assert turn.kind == "answered" and "1. 柜面服务" in (turn.reply or "")
    assert take_message(session, response, "第3个", now).kind == "not_answer"  # no third option
    assert take_message(session, response, "2", now).kind == "answered"
    turn = take_message(session, response, "找了半天没人理，电话13812345678", now)
    assert turn.finished and response.status == "completed"
    answers = {(a.question, a.score, a.choice, a.comment) for a in session.scalars(select(SurveyAnswer))}
    assert answers == {("csat", 2, None, None), ("best", None, "手机银行", None),
                       ("comment", None, None, "找了半天没人理，电话138****5678")}  # fmt: skip
    task = session.scalars(select(CallbackTask)).one()
    assert (task.scale, task.score, task.status) == ("csat", 2, "open")
    assert task.due_on == working_days_after(DAY, 2) == dt.date(2026, 12, 10)


def test_flow_lapses_after_repeated_other_talk(session: Session) -> None:
    response = _open(session)
    now = dt.datetime(2026, 12, 8, 3, tzinfo=dt.UTC)
    for text in ("我卡里还有多少钱", "利息多少", "网点几点开门"):
        kind = take_message(session, response, text, now).kind
    assert kind == "lapsed" and response.status == "lapsed"
    assert session.scalars(select(SurveyAnswer)).all() == []


def test_working_days_skip_national_day_and_count_the_make_up_saturday() -> None:
    assert working_days_after(dt.date(2026, 9, 30), 1) == dt.date(2026, 10, 8)
    assert working_days_after(dt.date(2026, 10, 9), 1) == dt.date(2026, 10, 10)  # 调休 Saturday
    assert working_days_after(dt.date(2026, 10, 9), 2) == dt.date(2026, 10, 12)


def test_identity_is_the_one_the_invitation_went_to(session: Session) -> None:
    response = _open(session)
    identity = session.get(ChannelIdentity, response.identity_id)
    assert identity is not None and identity.customer_id == response.customer_id


def test_cli_loads_surveys_with_campaigns_plans_and_reports(
    factory: Any, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    import json

    from bankcare.cli import main
    from core.db import session_scope

    monkeypatch.setenv("DATABASE_URL", db_url)
    with session_scope(factory) as s:
        visited(s)
    assert main(["care", "load"]) == 0  # the shipped surveys: after_appointment asks this customer
    assert "个满意度调查" in capsys.readouterr().out
    assert main(["surveys", "plan", "--date", DAY.isoformat()]) == 0
    assert "新写入 1 条" in capsys.readouterr().out
    with session_scope(factory) as s:
        response = s.scalars(select(SurveyResponse)).one()
        s.query(Delivery).update({"status": "sent"})
        take_message(s, response, "5分", dt.datetime(2026, 12, 8, 3, tzinfo=dt.UTC))
    assert main(["surveys", "report", "after_appointment", "--by", "branch", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["overall"]["invited"] == 1 and report["overall"]["csat"]["mean"] == 5.0
    assert [g["label"] for g in report["groups"]] == ["城关支行"]
    png = tmp_path / "chart.png"
    assert main(["surveys", "report", "after_appointment", "--png", str(png)]) == 0
    assert "满意度均分 5.00" in capsys.readouterr().out
    assert png.read_bytes().startswith(b"\x89PNG")
    assert main(["surveys", "report", "nope"]) == 1


def test_segment_audience_and_the_tier_copied_for_reports(session: Session) -> None:
    from crm.models.segments import SegmentMembership, SegmentVersion

    b = f.branch(session)
    vip, plain = f.customer(session, b), f.customer(session, b)
    session.add(SegmentVersion(version=1, as_of=DAY))
    session.flush()
    for c, tier in ((vip, "贵宾"), (plain, "大众")):
        session.add(SegmentMembership(version=1, customer_id=c.id, dimension="tier", value=tier))
    session.flush()
    load(session, code="vip_survey", audience={"event": "segment", "segments": {"tier": ["贵宾"]}})
    plan = plan_surveys(session, dt.date(2027, 1, 2))
    assert [i.customer_id for i in plan.invitations] == [vip.id]
    assert session.scalars(select(SurveyResponse.segment)).all() == ["贵宾"]
