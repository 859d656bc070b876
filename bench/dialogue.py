"""Dialogue benchmark (#20): scripted multi-turn conversations replayed by ``rasa test`` against the
trained model; prints the pass rate per turn and per conversation and the turns that fail, and
replaces the ``## Dialogue (make bench-dialogue)`` section of BENCHMARKS.md.

The set is the conversation suite (tests/conversations/stories.yml) plus the larger scripted set in
bench/data/dialogue.yml, where each conversation is a list of ``text | intent`` turns and the
expected bot actions follow from the rules in bot/data (forms, leaving a form, answers inside a
form) — see :func:`steps_for`. A turn fails when its intent or any bot action after it is
predicted wrongly. Actions are not executed (the action server is not needed): ``rasa test``
replays the story's own events, so the benchmark measures NLU + dialogue policy.

Usage: ``python -m bench.dialogue [--model models/x.tar.gz]`` (default: trains only if the
training data changed, via scripts/train_if_changed.py). Output under var/bench-dialogue/.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench.report import replace_section as write_section

SECTION = "## Dialogue (make bench-dialogue)"
ROOT = Path(__file__).resolve().parent.parent
RASA = ROOT / ".venv-rasa" / "bin" / "rasa"
SUITE = ROOT / "tests" / "conversations" / "stories.yml"
SCRIPTS = ROOT / "bench" / "data" / "dialogue.yml"
WORK = ROOT / "var" / "bench-dialogue"
TARGET = 0.90
RASA_ENV = {"RASA_TELEMETRY_ENABLED": "false", "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2",
            "ACTIONS_URL": "http://127.0.0.1:9/webhook", "ACTIONS_TOKEN": "unused"}

FORMS = {"bind_account": "bind_account_form", "report_loss": "report_loss_form",
         "book_appointment": "book_appointment_form", "complain": "complain_form"}
SUBMIT = {"bind_account_form": "action_submit_bind", "report_loss_form": "action_submit_loss",
          "book_appointment_form": "action_submit_appointment", "complain_form": "action_submit_complaint"}
# The answer to each intent when no form is running (bot/data/*.yml rules).
ANSWER = {
    "check_balance": "action_check_balance", "check_transactions": "action_check_transactions",
    "check_loan": "action_check_loan", "check_deposit": "action_check_deposit", "check_points": "action_check_points",
    "ask_deposit_rate": "action_deposit_rates", "ask_loan_product": "action_loan_products",
    "ask_wealth_product": "action_wealth_products", "ask_branch": "action_ask_branch",
    "unsubscribe": "action_unsubscribe", "subscribe": "action_subscribe", "check_ticket": "action_check_ticket",
    "greet": "utter_greet", "goodbye": "utter_goodbye", "thank": "utter_thank", "bot_challenge": "utter_bot_challenge",
    "out_of_scope": "utter_out_of_scope", "affirm": "action_affirm", "deny": "utter_anything_else",
    "cancel": "utter_nothing_to_cancel", "inform": "action_inform", "card_unclear": "utter_ask_card_topic",
    "transfer_money": "utter_transfer_how", "chitchat_ack": "utter_chitchat_ack",
    "my_appointment": "action_my_appointment", "faq": "action_answer_faq",
    "request_human": "action_request_human", "rate_service": "action_rate_service",
}
# Mid-form: these end the form and are answered (bot/data/form_exits.yml) ...
LEAVES = {"check_balance", "check_transactions", "check_loan", "check_deposit", "check_points", "ask_wealth_product",
          "check_ticket", "transfer_money", "my_appointment", "unsubscribe", "goodbye"}
# ... except account questions during binding, which keep the binding going ...
ACCOUNT = {"check_balance", "check_transactions", "check_loan", "check_deposit", "check_points", "ask_wealth_product",
           "my_appointment", "check_ticket"}
# ... and these are answered inside the form, which then resumes (bot/data/forms.yml, form_exits.yml).
INSIDE = {"faq": "action_answer_faq", "ask_deposit_rate": "action_deposit_rates", "ask_branch": "action_ask_branch",
          "ask_loan_product": "action_loan_products", "bot_challenge": "utter_bot_challenge",
          "chitchat_ack": "utter_chitchat_ack_in_form", "out_of_scope": "utter_out_of_scope", "thank": "utter_thank"}

Step = dict[str, object]


def steps_for(turns: list[tuple[str, str]]) -> list[Step]:
    """``(text, intent)`` turns → story steps; an intent ending in ``!`` completes the running form."""
    steps: list[Step] = []
    loop: str | None = None
    for text, marked in turns:
        intent = marked.rstrip("!")
        steps.append({"user": text, "intent": intent})
        if loop is None:
            if intent in FORMS:
                loop = FORMS[intent]
                steps += [{"action": loop}, {"active_loop": loop}]
            else:
                steps.append({"action": ANSWER[intent]})
        elif intent == "cancel":
            steps += [{"action": "action_cancel_form"}, {"active_loop": None}]
            loop = None
        elif intent in INSIDE:
            steps += [{"action": INSIDE[intent]}, {"action": loop}, {"active_loop": loop}]
        elif intent in FORMS and FORMS[intent] != loop:
            loop = FORMS[intent]
            steps += [{"action": "action_leave_form"}, {"active_loop": None}, {"action": loop}, {"active_loop": loop}]
        elif intent in LEAVES and not (loop == "bind_account_form" and intent in ACCOUNT):
            steps += [{"action": "action_leave_form"}, {"active_loop": None}, {"action": ANSWER[intent]}]
            loop = None
        else:
            steps.append({"action": loop})
        if marked.endswith("!"):
            if loop is None:
                raise ValueError(f"'{text}': '!' but no form is running")
            steps += [{"active_loop": None}, {"slot_was_set": None}, {"action": SUBMIT[loop]}]
            loop = None
    return steps


def story_yaml(name: str, steps: list[Step]) -> str:
    out = [f"  - story: {name}", "    steps:"]
    for st in steps:
        if "user" in st:
            out += ["      - user: |", f"          {st['user']}", f"        intent: {st['intent']}"]
        elif "action" in st:
            out.append(f"      - action: {st['action']}")
        elif "active_loop" in st:
            out.append(f"      - active_loop: {st['active_loop'] or 'null'}")
        else:
            out += ["      - slot_was_set:", "          - requested_slot: null"]
    return "\n".join(out)


def scripted_stories(path: Path = SCRIPTS) -> list[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    stories = []
    for conv in data["conversations"]:
        turns = [tuple(part.strip() for part in t.rsplit("|", 1)) for t in conv["turns"]]
        stories.append(story_yaml(f"bench {conv['name']}", steps_for(turns)))  # type: ignore[arg-type]
    return stories


def suite_stories(path: Path = SUITE) -> list[str]:
    body = path.read_text(encoding="utf-8").split("stories:", 1)[1]
    return [("  - story:" + chunk).rstrip() for chunk in body.split("  - story:")[1:]]


def count_turns(stories_text: str) -> int:
    return len(re.findall(r"^\s+- user: \|", stories_text, re.M))


@dataclass
class Outcome:
    turns: int = 0
    stories: int = 0
    failed_stories: int = 0
    failing: list[tuple[str, str, str]] = field(default_factory=list)  # (story, user text, what went wrong)
    entity_only: int = 0
    seconds: float = 0.0

    @property
    def turn_rate(self) -> float:
        return 1 - len(self.failing) / self.turns if self.turns else 0.0

    @property
    def story_rate(self) -> float:
        return 1 - self.failed_stories / self.stories if self.stories else 0.0


def failing_turns(failed_text: str) -> tuple[int, list[tuple[str, str, str]]]:
    """(failed story count, one entry per user turn with a wrong intent or a wrong action after it).

    Rasa writes each failed story with ``# predicted: ...`` after every wrong step; a step is a
    ``- intent/user`` block (the customer's turn) or an ``- action`` line (the bot's).
    """
    failing: list[tuple[str, str, str]] = []
    count = 0
    story, text, marked = "", "", False
    blocks: list[list[str]] = []
    for line in failed_text.splitlines():
        if re.match(r"^\s*- story: ", line) or re.match(r"^\s{2,}- ", line):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
    for block in blocks:
        head = block[0].strip()
        if head.startswith("- story: "):
            story, text, marked = head.removeprefix("- story: ").split(" (")[0], "", False
            count += 1
            continue
        user_at = next((k for k, ln in enumerate(block) if re.search(r"\buser: \|", ln)), None)
        if user_at is not None:
            text = block[user_at + 1].strip() if user_at + 1 < len(block) else ""
            marked = False
        wrong = next((re.search(r"#\s*predicted:\s*(.*)", ln) for ln in block if "# predicted:" in ln), None)
        if wrong and not marked:
            expected = next(ln for ln in block if "# predicted:" in ln).split("#")[0].strip(" -")
            predicted = wrong.group(1).strip()
            if expected.startswith("intent:"):
                name, _, said = predicted.partition(": ")
                text = text or re.sub(r"\[([^\]]+)\](\([^)]*\)|\{[^}]*\})", r"\1", said)
                if name == expected.removeprefix("intent:").strip():
                    continue  # the right intent, only the entities differ: counted by entity_only_turns
            failing.append((story, text, f"{expected} → 预测为 {predicted.split(': ')[0]}"))
            marked = True
    return count, failing


def entity_only_turns(failed_text: str) -> int:
    """Turns whose intent was right but whose entities differ from the (unannotated) script."""
    same = 0
    for line in failed_text.splitlines():
        found = re.search(r"- intent: (\S+)\s+#\s*predicted:\s*([^:]+):", line)
        if found and found.group(1) == found.group(2).strip():
            same += 1
    return same


def run(model: Path) -> Outcome:
    WORK.mkdir(parents=True, exist_ok=True)
    stories = suite_stories() + scripted_stories()
    text = 'version: "3.1"\nstories:\n' + "\n".join(stories) + "\n"
    source = WORK / "test_dialogue_stories.yml"  # rasa reads e2e test stories only from test_*.yml
    source.write_text(text, encoding="utf-8")
    out = WORK / "results"
    started = time.perf_counter()
    with (WORK / "test.log").open("w", encoding="utf-8") as log:
        subprocess.run(
            [str(RASA), "test", "core", "--model", str(model), "--stories", str(source), "--out", str(out),
             "--successes", "--e2e", "--endpoints", "bot/endpoints.yml"],
            cwd=ROOT, env={**os.environ, **RASA_ENV}, stdout=log, stderr=subprocess.STDOUT, check=False,
        )  # fmt: skip
    failed_file = out / "failed_test_stories.yml"
    failed_text = failed_file.read_text(encoding="utf-8") if failed_file.exists() else ""
    failed_count, failing = failing_turns(failed_text)
    passed_file = out / "successful_test_stories.yml"
    passed = passed_file.read_text(encoding="utf-8").count("- story:") if passed_file.exists() else 0
    if passed + failed_count != len(stories):
        sys.exit(f"rasa test evaluated {passed + failed_count} of {len(stories)} stories, see {WORK / 'test.log'}")
    failed_stories = len({story for story, _, _ in failing})
    return Outcome(count_turns(text), len(stories), failed_stories, failing, entity_only_turns(failed_text),
                   time.perf_counter() - started)


def report(outcome: Outcome, model: Path) -> str:
    verdict = "达标" if outcome.turn_rate >= TARGET else "未达标"
    lines = [
        SECTION,
        "",
        f"{outcome.stories} scripted conversations, {outcome.turns} customer turns (the conversation suite in "
        "tests/conversations/stories.yml plus bench/data/dialogue.yml), replayed by `rasa test core` against "
        f"`{model.name}` with `--e2e` (the customer's words go through the NLU). A turn fails when its intent "
        "or any bot action after it is predicted wrongly; entities are not scored here (make bench-nlu does).",
        "",
        "| measure | result | target |",
        "|---|---|---|",
        f"| turns passed | {outcome.turns - len(outcome.failing)}/{outcome.turns} = {outcome.turn_rate:.1%} | "
        f"≥ {TARGET:.0%} ({verdict}) |",
        f"| conversations passed | {outcome.stories - outcome.failed_stories}/{outcome.stories} = "
        f"{outcome.story_rate:.1%} | |",
        f"| turns with the right intent but other entities than the script | {outcome.entity_only} | |",
        f"| replay time | {outcome.seconds:.0f} s | |",
        "",
    ]
    if outcome.failing:
        lines += ["Failing turns:", "", "| conversation | customer said | expected → predicted |", "|---|---|---|"]
        lines += [f"| {s} | {t} | {w} |" for s, t, w in outcome.failing[:60]]
        if len(outcome.failing) > 60:
            lines.append(f"| … | {len(outcome.failing) - 60} more in var/bench-dialogue/results | |")
    else:
        lines.append("No failing turns.")
    return "\n".join(lines) + "\n"


def trained_model() -> Path:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_if_changed.py")], cwd=ROOT, capture_output=True, text=True,
        check=True,
    )
    return Path(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a trained model (default: train if the data changed)")
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = parser.parse_args()
    model = args.model or (Path(os.environ["BANKCARE_E2E_MODEL"]) if os.environ.get("BANKCARE_E2E_MODEL")
                           else trained_model())
    outcome = run(model)
    text = report(outcome, model)
    print(text)
    if not args.no_write:
        write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
