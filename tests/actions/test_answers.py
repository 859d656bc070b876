"""Account answers through the webhook: only the verified owner sees data, masked, from the records."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.masking import format_yuan, mask_name
from crm.access.holdings import expected_interest
from crm.demo.catalogue import PERSONAS
from crm.models import Account, Customer, MarketingConsent, Transaction
from crm.timeparse import DateRange, parse_range, today_in_shanghai
from tests.actions.conftest import texts, tracker
from tests.actions.responses import rendered, response_text

BIND_INVITATION = response_text("utter_bind_invitation")

ZHANG = next(p for p in PERSONAS if p.key == "zhangjianhua")
OWNER = "web:demo-zhangjianhua"
STRANGER = "web:demo-zhaoli"  # exists but not bound
ACCOUNT_ACTIONS = [
    "action_check_balance",
    "action_check_transactions",
    "action_check_loan",
    "action_check_deposit",
    "action_check_points",
    "action_wealth_products",
]


async def test_unverified_users_get_the_invitation_and_no_data(webhook: Any) -> None:
    for action in ACCOUNT_ACTIONS:
        for sender in (STRANGER, "wechat:oUnknownOpenid", "nobody"):
            result = await webhook(action, tracker(sender, "查一下", "check_balance"))
            said = "".join(texts(result))
            assert BIND_INVITATION in said, action
            assert not re.search(r"\d[\d,]*\.\d\d元", said), action  # no amount of any kind
            assert rendered(result)[0]["buttons"][0]["payload"] == "/bind_account"


async def test_balance_for_the_owner_is_masked(webhook: Any, db: Session) -> None:
    result = await webhook("action_check_balance", tracker(OWNER, "查余额", "check_balance"))
    said = texts(result)[0]
    accounts = db.scalars(select(Account).where(Account.customer_id == 1)).all()
    assert accounts
    for account in accounts:
        assert f"尾号{account.account_no[-4:]}" in said
        assert account.account_no not in said
        assert format_yuan(account.balance) in said
    assert "张先生" in said and ZHANG.name not in said


async def test_transactions_default_week_with_totals_and_paging(webhook: Any, db: Session) -> None:
    def booked(period: DateRange) -> list[Transaction]:
        lo, hi = period.utc_bounds()
        return list(
            db.scalars(
                select(Transaction)
                .join(Account)
                .where(Account.customer_id == 1, Transaction.booked_at >= lo, Transaction.booked_at < hi)
            ).all()
        )

    period = parse_range(None, today_in_shanghai())
    rows = booked(period)
    if not rows:  # nothing this week: the answer looks back a month before saying there is nothing
        rows = booked(DateRange(period.end - dt.timedelta(days=29), period.end))
    result = await webhook("action_check_transactions", tracker(OWNER, "查流水", "check_transactions"))
    said = texts(result)[0]
    if not rows:
        assert "没有交易记录" in said
        return
    income = sum((r.amount for r in rows if r.amount > 0), Decimal(0))
    expense = sum((-r.amount for r in rows if r.amount < 0), Decimal(0))
    assert f"共{len(rows)}笔" in said
    assert f"收入{format_yuan(income)}" in said and f"支出{format_yuan(expense)}" in said


async def test_transactions_last_month_paged_ten_at_a_time(webhook: Any, db: Session) -> None:
    period = parse_range("上个月", today_in_shanghai())
    lo, hi = period.utc_bounds()
    rows = db.scalars(
        select(Transaction)
        .join(Account)
        .where(Account.customer_id == 1, Transaction.booked_at >= lo, Transaction.booked_at < hi)
    ).all()
    first = await webhook(
        "action_check_transactions",
        tracker(OWNER, "上个月的流水", "check_transactions", entities={"time_range": "上个月"}),
    )
    said = texts(first)[0]
    assert period.label() in said
    assert len([line for line in said.splitlines() if line.startswith(("0", "1"))]) == min(10, len(rows))
    for row in rows:
        if row.counterparty:
            assert row.counterparty not in said or len(row.counterparty) < 2
    masked = {mask_name(r.counterparty) for r in rows if r.counterparty}
    assert any(m in said for m in masked) or not masked or len(rows) > 10
    if len(rows) > 10:
        assert first["responses"][0]["buttons"] == [{"title": "更多", "payload": "/show_more"}]
        slots = {e["name"]: e["value"] for e in first["events"]}
        more = await webhook("action_show_more", tracker(OWNER, "更多", "show_more", slots=slots))
        assert "第11至" in texts(more)[0]


async def test_loans_deposits_points(webhook: Any, db: Session) -> None:
    today = today_in_shanghai()
    loan = texts(await webhook("action_check_loan", tracker(OWNER, "贷款还多少", "check_loan")))[0]
    due = today.toordinal() + ZHANG.loan[2]  # type: ignore[index]
    from datetime import date

    d = date.fromordinal(due)
    assert "惠农贷" in loan and f"{d.year}年{d.month}月{d.day}日" in loan and "还剩8期" in loan
    deposit = texts(await webhook("action_check_deposit", tracker(OWNER, "定期", "check_deposit")))
    amount = Decimal(ZHANG.deposit[0])  # type: ignore[index]
    assert format_yuan(amount) in deposit[0]
    assert format_yuan(expected_interest(amount, Decimal("0.0135"), today, today, 12)) in deposit[0]
    # Maturing in 5 days and marketing allowed: exactly one renewal suggestion.
    assert len(deposit) == 2 and "到期" in deposit[1] and "1.35%" in deposit[1]
    pts = db.scalar(select(Customer.points).where(Customer.id == 1))
    assert (
        f"{pts}分" in texts(await webhook("action_check_points", tracker(OWNER, "积分", "check_points")))[0]
    )


async def test_no_suggestion_after_unsubscribe(webhook: Any, db: Session) -> None:
    result = await webhook("action_unsubscribe", tracker(OWNER, "退订", "unsubscribe"))
    assert "已为您退订" in texts(result)[0]
    db.expire_all()
    refused = db.scalars(select(MarketingConsent).where(MarketingConsent.customer_id == 1)).all()
    assert refused and all(not c.granted for c in refused)
    deposit = texts(await webhook("action_check_deposit", tracker(OWNER, "定期", "check_deposit")))
    assert len(deposit) == 1
    await webhook("action_subscribe", tracker(OWNER, "订阅", "subscribe"))
    deposit = texts(await webhook("action_check_deposit", tracker(OWNER, "定期", "check_deposit")))
    assert len(deposit) == 2


async def test_wealth_products_respect_risk_level(webhook: Any, db: Session) -> None:
    level = db.scalar(select(Customer.risk_level).where(Customer.id == 1))
    said = texts(await webhook("action_wealth_products", tracker(OWNER, "理财", "ask_wealth_product")))[0]
    words = {1: "（低风险）", 2: "（中低风险）", 3: "（中等风险）", 4: "（中高风险）"}
    for r, word in words.items():
        assert (word in said) == (r <= level)
    assert not re.search(r"[RC]\d", said)  # no rating codes, plain words only (#20)
    assert "理财不是存款" in said


async def test_loan_products_hint_for_the_customer(webhook: Any) -> None:
    said = texts(await webhook("action_loan_products", tracker(OWNER, "贷款", "ask_loan_product")))[0]
    first = said.splitlines()[1]
    assert "【推荐】惠农贷" in first  # 张建华 is a 种植户
    anon = texts(await webhook("action_loan_products", tracker("nobody", "贷款", "ask_loan_product")))[0]
    assert "【推荐】" not in anon and "绑定账户后" in anon


async def test_deposit_rates_from_the_products_table(webhook: Any) -> None:
    said = texts(await webhook("action_deposit_rates", tracker("nobody", "利率", "ask_deposit_rate")))[0]
    assert "一年期整存整取：1.35%" in said and "三年期大额存单：1.95%" in said
