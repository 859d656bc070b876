"""The dialogue benchmark's story builder and its reading of rasa's failed stories (no model needed)."""

from __future__ import annotations

from bench.dialogue import count_turns, failing_turns, scripted_stories, steps_for, suite_stories


def test_a_form_left_mid_way_expects_the_leave_action_then_the_answer() -> None:
    steps = steps_for([("我要投诉", "complain"), ("俺卡里还剩多少钱", "check_balance")])
    assert steps[-3:] == [{"action": "action_leave_form"}, {"active_loop": None}, {"action": "action_check_balance"}]


def test_account_questions_keep_the_binding_going_and_bang_submits() -> None:
    steps = steps_for([("绑定", "bind_account"), ("查余额", "check_balance"), ("123456", "inform!")])
    assert {"action": "action_leave_form"} not in steps
    assert steps[-1] == {"action": "action_submit_bind"}


def test_the_bench_set_is_large_enough() -> None:
    stories = suite_stories() + scripted_stories()
    assert count_turns("\n".join(stories)) >= 300


def test_failing_turns_are_read_from_rasas_annotations() -> None:
    failed = """version: "3.1"
stories:
- story: bench weather (/tmp/x.yml)
  steps:
  - intent: out_of_scope  # predicted: nlu_fallback: 明天下雨不
    user: |-
      明天下雨不
  - action: utter_out_of_scope  # predicted: action_default_fallback
"""
    count, failing = failing_turns(failed)
    assert count == 1 and len(failing) == 1 and failing[0][0] == "bench weather"
    assert failing[0][1] == "明天下雨不" and "nlu_fallback" in failing[0][2]
    other_order = """- story: bench loan (/tmp/x.yml)
  steps:
  - user: |-
      代款啥时候换
    intent: check_loan
  - action: action_check_loan  # predicted: action_loan_products
"""
    count, failing = failing_turns(other_order)
    assert count == 1 and failing == [("bench loan", "代款啥时候换", "action: action_check_loan → 预测为 action_loan_products")]
