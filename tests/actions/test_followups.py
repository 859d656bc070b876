"""Short questions that depend on the previous answer: "电话多少" / "周六开门不" / "中午休息吗" after a branch
answer are answered for that branch; "存一年和存三年哪个划算" compares both terms."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from core.masking import format_yuan
from crm.access.branches import find_branches
from crm.access.products import deposit_product_for_term
from tests.actions.conftest import texts, tracker, user_event
from tests.actions.responses import response_text

SENDER = "web:test-followups"


async def test_two_terms_are_compared(webhook: Any, db: Session) -> None:
    one, three = deposit_product_for_term(db, 12), deposit_product_for_term(db, 36)
    assert one is not None and three is not None and one.rate is not None and three.rate is not None
    said = texts(await webhook("action_deposit_rates", tracker("nobody", "存一年和存三年哪个划算", "ask_deposit_rate")))
    text = "\n".join(said)
    for p in (one, three):
        assert f"{p.name}：年利率{(p.rate or 0) * 100:.2f}%" in text
    better = one if one.rate > three.rate else three
    assert f"按年利率算{better.name}更划算" in text

    said = texts(await webhook("action_deposit_rates", tracker("nobody", "5万存一年和三年哪个划算", "ask_deposit_rate")))
    text = "\n".join(said)
    for p, years in ((one, 1), (three, 3)):
        interest = (Decimal(50000) * Decimal(p.rate or 0) * years).quantize(Decimal("0.01"))
        assert f"到期利息约{format_yuan(interest)}" in text


async def test_one_term_still_gets_its_rate(webhook: Any, db: Session) -> None:
    two = deposit_product_for_term(db, 24)
    assert two is not None
    said = "\n".join(texts(await webhook("action_deposit_rates", tracker("nobody", "5万存两年", "ask_deposit_rate"))))
    assert "对比" not in said and f"{two.name}年利率" in said


def _branch_question(text: str, town: str) -> list[dict[str, Any]]:
    entity = {"entity": "town", "value": town, "start": 0, "end": len(town)}
    return [user_event(text, "ask_branch", [entity]), {"event": "bot", "text": "……", "metadata": {}, "data": {}}]


async def test_branch_followups_answer_for_the_branch_just_named(webhook: Any, db: Session) -> None:

    towns = {b.town for b in find_branches(db, "镇") + find_branches(db, "乡")} or {"城关镇"}
    for town in sorted(towns)[:4]:
        (branch,) = find_branches(db, town)[:1]
        before = _branch_question(f"{town}的网点在哪", town)
        phone = texts(await webhook("action_ask_branch", tracker(SENDER, "电话多少", "ask_branch", events=before)))
        assert phone == [f"{branch.name}的电话是{branch.phone}，地址在{branch.address}。"]

        weekend = "\n".join(texts(await webhook("action_ask_branch",
                                                tracker(SENDER, "周六开门不", "ask_branch", events=before))))
        hours = branch.opening_hours.get("weekend")
        if hours:
            assert f"{branch.name}周六、周日都营业，时间是{hours[0]}-{hours[1]}" in weekend
        else:
            assert f"{branch.name}周六、周日不营业" in weekend
        assert response_text("utter_hours_general") not in weekend

        noon = "\n".join(texts(await webhook("action_ask_branch",
                                             tracker(SENDER, "中午休息吗", "ask_branch", events=before))))
        start, end = branch.opening_hours["weekday"] or ["", ""]
        assert f"{branch.name}工作日{start}-{end}营业，中午不关门" in noon


async def test_branch_followup_with_no_branch_before_is_unchanged(webhook: Any) -> None:
    said = texts(await webhook("action_ask_branch", tracker(SENDER, "电话多少", "ask_branch")))
    assert said == [response_text("utter_which_town")]
    noon = texts(await webhook("action_ask_branch", tracker(SENDER, "中午休息吗", "ask_branch")))
    assert noon[0] == response_text("utter_hours_general")


async def test_weekend_with_no_branch_named_lists_the_branches_open_then(webhook: Any, db: Session) -> None:
    from crm.access.branches import all_branches

    said = "\n".join(texts(await webhook("action_ask_branch", tracker(SENDER, "周六开门不", "ask_branch"))))
    assert response_text("utter_hours_general") not in said
    branches = all_branches(db)
    assert branches
    for b in branches:
        assert (b.name in said) == bool(b.opening_hours.get("weekend")), b.name
