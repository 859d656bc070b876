"""Answers to what was asked (#20), through the action server's webhook on the seeded demo bank:
transfers, hours, interest worked out, farm loans, cautious wealth, pensions, bookings looked up /
cancelled / moved for real, the branch finder, forms that end, complaints told in the first message,
and binding that resumes the question that needed it."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.masking import format_yuan
from crm.access.appointments import bookings_per_window
from crm.access.branches import get_branch, hours_on
from crm.models import Account, Appointment, Branch, Customer, Transaction
from crm.timeparse import SHANGHAI, today_in_shanghai
from tests.actions.conftest import slot_events, texts, tracker, user_event
from tests.actions.responses import response_text

ZHANG = "web:demo-zhangjianhua"  # 种植户, bound
LI = "web:demo-lixiulan"  # 退休人员, bound, monthly pension
STRANGER = "nobody"
ENGLISH = re.compile(r"[A-Za-z]{3,}")


def test_the_transfer_answer_says_where_and_the_limits_without_moving_money() -> None:
    said = response_text("utter_transfer_how")
    for place in ("手机银行", "网点柜台", "助农取款点"):
        assert place in said
    assert "5万元" in said and "2000元" in said and "不能替您转账" in said


async def test_hours_are_general_plus_the_customers_own_branch(webhook: Any, db: Session) -> None:
    said = texts(await webhook("action_ask_branch", tracker(ZHANG, "你们几点下班", "ask_branch")))
    assert "17:00关门" in said[0]
    branch = db.get(Branch, db.get(Customer, 1).branch_id)  # type: ignore[union-attr]
    assert branch is not None and branch.name in said[1] and "请告诉我您在哪个乡镇" not in "".join(said)
    anon = "".join(texts(await webhook("action_ask_branch", tracker(STRANGER, "你们几点关门", "ask_branch"))))
    assert "17:00关门" in anon and "乡镇" in anon  # a tip, not a question that blocks the answer


async def test_interest_is_worked_out_from_the_product_rate(webhook: Any) -> None:
    said = texts(await webhook("action_deposit_rates", tracker(STRANGER, "一年定期存一万 利息多少", "ask_deposit_rate")))
    assert said == [said[0]] and "10,000.00元 × 1.35% × 1年 = 135.00元" in said[0]
    three = texts(await webhook("action_deposit_rates", tracker(STRANGER, "5万存三年", "ask_deposit_rate")))[0]
    assert "50,000.00元 × 1.75% × 3年 = 2,625.00元" in three
    term_only = texts(await webhook("action_deposit_rates", tracker(STRANGER, "存三年利率多少", "ask_deposit_rate")))[0]
    assert "三年期整存整取" in term_only and "五年期" not in term_only and "一年期" not in term_only
    table = texts(await webhook("action_deposit_rates", tracker(STRANGER, "利率表", "ask_deposit_rate")))[0]
    assert "一年期整存整取：1.35%" in table


async def test_a_follow_up_names_only_what_changed(webhook: Any) -> None:
    before = [user_event("存5万三年能拿多少", "ask_deposit_rate")]
    one_year = texts(await webhook("action_deposit_rates", tracker(STRANGER, "那要是存一年呢", "ask_deposit_rate",
                                                                   events=before)))[0]
    assert "50,000.00元 × 1.35% × 1年 = 675.00元" in one_year
    more = texts(await webhook("action_deposit_rates", tracker(STRANGER, "那十万呢", "ask_deposit_rate",
                                                               events=before)))[0]
    assert "100,000.00元 × 1.75% × 3年" in more
    # Not a follow-up of a deposit question: the term alone gives that term's rate.
    alone = texts(await webhook("action_deposit_rates", tracker(STRANGER, "那要是存一年呢", "ask_deposit_rate",
                                                                events=[user_event("你好", "greet")])))[0]
    assert "×" not in alone and "一年期整存整取" in alone


async def test_typed_w_and_large_deposit_certificates(webhook: Any) -> None:
    typed = texts(await webhook("action_deposit_rates", tracker(STRANGER, "存5w一年利息", "ask_deposit_rate")))[0]
    assert "50,000.00元 × 1.35% × 1年" in typed
    cd = texts(await webhook("action_deposit_rates", tracker(STRANGER, "20万存三年大额存单利息多少",
                                                             "ask_deposit_rate")))[0]
    assert "大额存单" in cd and "200,000.00元 × 1.95% × 3年" in cd
    small = texts(await webhook("action_deposit_rates", tracker(STRANGER, "5万能买大额存单吗 存三年",
                                                                "ask_deposit_rate")))[0]
    assert "20万元起存" in small and "50,000.00元 × 1.75% × 3年" in small


async def test_interest_asked_after_a_loan_question_is_the_loan_rate(webhook: Any) -> None:
    before = [user_event("惠农贷怎么申请", "ask_loan_product"), user_event("最多能贷多少", "faq")]
    said = texts(await webhook("action_deposit_rates", tracker(STRANGER, "利息高不高", "ask_deposit_rate",
                                                               events=before)))[0]
    assert "惠农贷：4.35%起" in said and "整存整取" not in said
    deposit = texts(await webhook("action_deposit_rates", tracker(STRANGER, "那存一年定期利息呢", "ask_deposit_rate",
                                                                  events=before)))[0]
    assert "一年期整存整取" in deposit and "惠农贷" not in deposit


async def test_what_to_bring_is_answered_without_the_product_list_again(webhook: Any) -> None:
    said = texts(await webhook("action_loan_products", tracker(STRANGER, "要准备啥材料", "ask_loan_product")))
    assert len(said) == 1 and "身份证" in said[0] and "我行的贷款产品有" not in said[0]


async def test_farmers_get_the_farm_loan_first_with_what_to_bring(webhook: Any) -> None:
    result = await webhook("action_loan_products", tracker(STRANGER, "俺是种地的 能贷款不 要啥手续", "ask_loan_product"))
    said = texts(result)
    assert said[0].splitlines()[1].startswith("· 惠农贷")
    assert "创业担保贷款" not in said[0].splitlines()[1]
    assert "身份证" in said[1] and "户口本" in said[1]
    assert "1万元–30万元" in said[0] and "10,000.00元至" not in said[0]


async def test_cautious_wealth_is_low_risk_only_in_plain_words(webhook: Any) -> None:
    said = texts(await webhook("action_wealth_products", tracker(ZHANG, "稳当点的理财", "ask_wealth_product")))[0]
    assert "低风险" in said and "中等风险" not in said and "中高风险" not in said
    assert "理财不是存款" in said and not re.search(r"[RC]\d", said)
    assert "1元起购" in said


async def test_a_retiree_hears_the_last_pension_credit(webhook: Any, db: Session) -> None:
    customer_id = db.scalar(select(Customer.id).where(Customer.occupation == "退休人员").order_by(Customer.id))
    last = db.execute(
        select(Transaction.amount, Transaction.booked_at)
        .join(Account, Account.id == Transaction.account_id)
        .where(Account.customer_id == customer_id, Transaction.summary == "养老金")
        .order_by(Transaction.booked_at.desc())
        .limit(1)
    ).first()
    assert last is not None
    said = texts(await webhook("action_check_transactions", tracker(LI, "养老金到账了木有", "check_transactions")))
    when = last[1].astimezone(SHANGHAI) if last[1].tzinfo else last[1].replace(tzinfo=dt.UTC).astimezone(SHANGHAI)
    assert len(said) == 1 and format_yuan(Decimal(last[0])) in said[0] and f"{when.month}月{when.day}日" in said[0]
    anon = texts(await webhook("action_check_transactions", tracker(STRANGER, "养老金到了没", "check_transactions")))
    assert response_text("utter_bind_invitation") in anon[0]


def _open_day(db: Session) -> tuple[Branch, dt.date]:
    branch = db.scalars(select(Branch).order_by(Branch.id)).first()
    assert branch is not None
    info = get_branch(db, branch.id)
    assert info is not None
    day = today_in_shanghai() + dt.timedelta(days=1)
    while hours_on(info, day) is None:
        day += dt.timedelta(days=1)
    return branch, day


async def _book(webhook: Any, db: Session, text: str) -> tuple[Branch, dt.date, list[str]]:
    branch, day = _open_day(db)
    valid = await webhook(
        "validate_book_appointment_form",
        tracker(
            ZHANG, text, "inform",
            slots={"appt_branch": branch.name, "appt_branch_id": float(branch.id), "appt_date": day.isoformat(),
                   "requested_slot": "appt_date"},
            active_loop="book_appointment_form",
        ),
    )
    period = slot_events(valid)["appt_period"]
    slots = {"appt_branch": branch.name, "appt_branch_id": float(branch.id), "appt_date": day.isoformat(),
             "appt_service": "开户", "appt_period": period}
    booked = texts(await webhook("action_submit_appointment", tracker(ZHANG, "开户", "inform", slots=slots)))
    return branch, day, booked


async def test_a_morning_booking_has_concrete_morning_times(webhook: Any, db: Session) -> None:
    branch, day, booked = await _book(webhook, db, "明天上午")
    info = get_branch(db, branch.id)
    assert info is not None
    opens, closes = hours_on(info, day)  # type: ignore[misc]
    assert f"上午{opens}-11:30" in booked[0] and f"{opens}-{closes}" not in booked[0]
    # The window is its own column; the service column holds only the service.
    assert db.execute(select(Appointment.service, Appointment.time_window)).one() == ("开户", "上午")


async def test_an_appointment_window_is_looked_up_and_moved_by_what_the_customer_says(
    webhook: Any, db: Session
) -> None:
    branch, day, booked = await _book(webhook, db, "9点")
    assert db.execute(select(Appointment.service, Appointment.time_window)).one() == ("开户", "09:00-10:00")
    assert "09:00-10:00" in booked[0]
    info = get_branch(db, branch.id)
    assert info is not None

    # 改到下午: the same day, the afternoon; the customer reads 12月9日（周三）下午，城关支行，办理开户.
    moved = texts(await webhook("action_my_appointment", tracker(ZHANG, "预约改到下午吧", "my_appointment")))[0]
    db.expire_all()
    assert db.execute(select(Appointment.on_date, Appointment.time_window)).one() == (day, "下午")
    weekday = "一二三四五六日"[day.weekday()]
    assert f"{day.month}月{day.day}日（周{weekday}）下午，{branch.name}，办理开户" in moved
    looked_up = texts(await webhook("action_my_appointment", tracker(ZHANG, "我约的是哪天", "my_appointment")))[0]
    closes = hours_on(info, day)[1]  # type: ignore[index]
    assert f"（周{weekday}）下午13:30-{closes}，{branch.name}" in looked_up and "办理开户，" in looked_up

    # 改到<another day>: the day changes, the afternoon is kept (when that day is open in the afternoon).
    later = day + dt.timedelta(days=1)
    while (hours_on(info, later) or ("", ""))[1] <= "13:30":
        later += dt.timedelta(days=1)
    await webhook("action_my_appointment",
                  tracker(ZHANG, "预约改到那天", "my_appointment", entities={"date": later.isoformat()}))  # fmt: skip
    db.expire_all()
    assert db.execute(select(Appointment.on_date, Appointment.time_window)).one() == (later, "下午")

    cancelled = texts(await webhook("action_my_appointment", tracker(ZHANG, "把预约取消了吧", "my_appointment")))[0]
    assert f"{later.month}月{later.day}日（周{'一二三四五六日'[later.weekday()]}）下午到{branch.name}" in cancelled
    db.expire_all()
    assert db.execute(select(Appointment.service, Appointment.status)).one() == ("开户", "cancelled")


async def test_an_appointment_window_has_its_own_limit_where_the_branch_sets_one(
    webhook: Any, db: Session
) -> None:
    branch, day, _ = await _book(webhook, db, "上午")
    db.get(Branch, branch.id).window_capacity = 1  # type: ignore[union-attr]
    db.commit()

    async def ask(text: str) -> dict[str, Any]:
        return await webhook("validate_book_appointment_form", tracker(
            LI, text, "inform",
            slots={"appt_branch": branch.name, "appt_branch_id": float(branch.id), "appt_date": day.isoformat(),
                   "requested_slot": "appt_date"},
            active_loop="book_appointment_form",
        ))  # fmt: skip

    m, d = day.month, day.day
    morning = await ask(f"{m}月{d}日上午")
    assert slot_events(morning)["appt_date"] is None
    assert texts(morning) == [f"这个网点{m}月{d}日上午的预约已经满了。可以换个时段，比如回复“{m}月{d}日下午”，也可以换一天。"]
    nine = await ask(f"{m}月{d}日9点")  # an hour of the morning counts against the morning
    assert slot_events(nine)["appt_date"] is None and "09:00-10:00的预约已经满了" in texts(nine)[0]
    afternoon = await ask(f"{m}月{d}日下午")
    assert slot_events(afternoon)["appt_date"] == day.isoformat() and not texts(afternoon)

    # The afternoon fills up too; moving the morning booking there is refused, and nothing moves.
    first = db.scalars(select(Appointment)).one()
    db.add(Appointment(ref="YY-AFTERNOON", customer_id=first.customer_id, branch_id=first.branch_id, on_date=day,
                       time_window="下午", service="补卡", status="booked", idempotency_key="k-afternoon",
                       created_at=first.created_at))  # fmt: skip
    db.commit()
    assert bookings_per_window(db, branch.id, day) == {"上午": 1, "下午": 1}
    refused = texts(await webhook("action_my_appointment", tracker(ZHANG, "预约改到下午", "my_appointment")))[0]
    assert refused == f"这个网点{m}月{d}日下午的预约已经满了。可以换个时段，比如回复“改到{m}月{d}日上午”，也可以换一天。"
    db.expire_all()
    assert db.scalar(select(Appointment.time_window).where(Appointment.ref == first.ref)) == "上午"


async def test_a_booking_is_looked_up_cancelled_for_real_and_moved(webhook: Any, db: Session) -> None:
    _, day, _ = await _book(webhook, db, "9点")
    ref = db.scalar(select(Appointment.ref))
    found = texts(await webhook("action_my_appointment", tracker(ZHANG, "预约还在不", "my_appointment")))[0]
    assert ref and ref in found and "09:00-10:00" in found
    later = day + dt.timedelta(days=1)
    while hours_on(get_branch(db, db.scalar(select(Appointment.branch_id))), later) is None:  # type: ignore[arg-type]
        later += dt.timedelta(days=1)
    moved = texts(await webhook(
        "action_my_appointment",
        tracker(ZHANG, "预约改到那天", "my_appointment", entities={"date": later.isoformat()}),
    ))[0]
    assert ref in moved
    db.expire_all()
    assert db.scalar(select(Appointment.on_date)) == later
    cancelled = texts(await webhook("action_my_appointment", tracker(ZHANG, "把预约取消了吧", "my_appointment")))
    assert ref in cancelled[0] and "已为您取消" in cancelled[0]
    db.expire_all()
    assert db.scalar(select(Appointment.status)) == "cancelled"
    none = texts(await webhook("action_my_appointment", tracker(ZHANG, "我的预约呢", "my_appointment")))[0]
    assert none == response_text("utter_no_appointment")


async def test_cancel_while_booking_drops_only_the_booking_being_made(webhook: Any, db: Session) -> None:
    await _book(webhook, db, "上午")
    earlier = [
        user_event("我要预约", "book_appointment"),
        {"event": "action", "name": "book_appointment_form"},
        {"event": "active_loop", "name": "book_appointment_form"},
    ]
    call = tracker(ZHANG, "不约了 取消预约", "my_appointment", events=earlier)
    call["events"] += [{"event": "action", "name": "action_leave_form"}, {"event": "active_loop", "name": None}]
    said = texts(await webhook("action_my_appointment", call))
    assert said == [response_text("utter_form_cancelled")]
    db.expire_all()
    assert db.scalar(select(Appointment.status)) == "booked"


def test_the_booking_wording_says_what_to_do() -> None:
    from actions.bookings import booking_request

    assert booking_request("预约还在不") == "check"
    assert booking_request("把预约取消了吧") == "cancel"
    assert booking_request("明天去不了了 改到后天") == "change"
    assert booking_request("约的日子换一下") == "change"


async def test_the_branch_finder_uses_the_customers_town_and_says_when_far(webhook: Any, db: Session) -> None:
    town = db.get(Branch, db.get(Customer, 1).branch_id).town  # type: ignore[union-attr]
    said = texts(await webhook("action_ask_branch", tracker(ZHANG, "最近的网点在哪", "ask_branch")))[0]
    assert town in said
    far = texts(await webhook(
        "action_ask_branch",
        tracker(ZHANG, "/ask_branch", "ask_branch", metadata={"location": {"latitude": 39.9, "longitude": 116.4}}),
    ))[0]
    assert "公里" in far and "距您约" not in far and "服务范围" in far


async def test_leaving_a_form_ends_it_and_forgets_its_answers(webhook: Any) -> None:
    result = await webhook(
        "action_leave_form",
        tracker(ZHANG, "俺卡里还剩多少钱", "check_balance", slots={"complaint_text": "俺卡里还剩多少钱",
                                                                   "requested_slot": "complaint_text"},
                active_loop="complain_form"),
    )
    assert texts(result) == []
    events = result["events"]
    assert {"event": "active_loop", "name": None} in [{k: e.get(k) for k in ("event", "name")} for e in events]
    assert slot_events(result)["complaint_text"] is None and slot_events(result)["requested_slot"] is None


async def test_a_complaint_told_in_the_first_message_is_kept(webhook: Any) -> None:
    told = await webhook(
        "validate_complain_form",
        tracker(ZHANG, "我要投诉 你们网点排队太久了", "complain", slots={"complaint_text": "我要投诉 你们网点排队太久了"},
                active_loop="complain_form"),
    )
    assert slot_events(told)["complaint_text"] == "我要投诉 你们网点排队太久了" and texts(told) == []
    bare = await webhook(
        "validate_complain_form",
        tracker(ZHANG, "我要投诉", "complain", slots={"complaint_text": "我要投诉"}, active_loop="complain_form"),
    )
    assert slot_events(bare)["complaint_text"] is None and texts(bare) == []  # the form asks, once


async def test_binding_resumes_the_question_that_needed_it(webhook: Any) -> None:
    earlier = [
        user_event("俺卡里还剩多少钱", "check_balance"),
        {"event": "action", "name": "action_check_balance"},
        user_event("绑定账户", "bind_account"),
        {"event": "action", "name": "bind_account_form"},
        {"event": "active_loop", "name": "bind_account_form"},
        user_event("123456", "inform"),
    ]
    result = await webhook(
        "action_submit_bind", tracker(ZHANG, "123456", "inform", events=earlier, slots={"flow_status": "verified"})
    )
    said = texts(result)
    assert "绑定成功" in said[0]
    assert said[1] == response_text("utter_bind_then_answer") and "可用余额" in said[2]


async def test_no_english_words_in_the_new_answers(webhook: Any) -> None:
    calls = [
        ("action_deposit_rates", "5万存三年", "ask_deposit_rate"),
        ("action_loan_products", "俺是种地的 能贷款不", "ask_loan_product"),
        ("action_wealth_products", "稳当点的理财", "ask_wealth_product"),
        ("action_check_transactions", "养老金到账了木有", "check_transactions"),
        ("action_ask_branch", "你们几点下班", "ask_branch"),
    ]
    for action, text, intent in calls:
        for said in texts(await webhook(action, tracker(LI, text, intent))):
            assert not ENGLISH.search(said), (action, said)
            sentences = [s for s in re.split(r"[。\n]", said) if s.strip()]
            assert len(sentences) == len(set(sentences)), (action, said)
