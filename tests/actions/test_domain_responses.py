"""The actions and the Rasa domain agree: every response an action sends by name exists, and gets
exactly the blanks its wording has.

Rasa sends nothing for a response missing from the domain (it logs an error and the customer waits),
and sends ``{name}`` verbatim for a blank nobody filled; both would only show in a live conversation.
"""

from __future__ import annotations

import ast
import re

import pytest

from core.settings import PROJECT_ROOT
from tests.actions.responses import domain_responses

ACTIONS = PROJECT_ROOT / "actions"
BLANK = re.compile(r"{([^\n{}]+?)}")
BIND_BUTTON = {"title": "绑定账户", "payload": "/bind_account"}
# Replies that refuse account data to someone not yet bound: each invites binding, in the same words.
INVITING = ["utter_bind_invitation", "utter_wealth_needs_binding", "utter_loss_needs_binding", "utter_appt_needs_binding"]


def _names(node: ast.expr) -> list[str]:
    """Response names an expression can take: a string, or either side of ``a if c else b``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _names(node.body) + _names(node.orelse)
    return []


def _sends() -> list[tuple[str, str, frozenset[str]]]:
    """(where, response name, variables given) for every response sent by name in actions/.

    ``dispatcher.utter_message(response=..., name=value)`` and ``Reply.of("utter_…", name=value)``.
    """
    found = []
    for path in sorted(ACTIONS.glob("*.py")):
        if path.name == "reply.py":
            continue  # Reply.send passes on the name it was given
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            if node.func.attr == "utter_message" and "response" in keywords:
                names = _names(keywords.pop("response"))
            elif node.func.attr == "of" and node.args:
                names = _names(node.args[0])
            else:
                continue
            assert names, f"{path.name}:{node.lineno}: name the response with a string literal"
            given = frozenset(keywords) - {"buttons"}
            found += [(f"{path.name}:{node.lineno}", name, given) for name in names]
    return found


def _literals() -> list[tuple[str, str]]:
    """Every string in actions/ that looks like a response name, wherever it is used."""
    return [
        (f"{path.name}:{node.lineno}", node.value)
        for path in sorted(ACTIONS.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(r"utter_\w+", node.value)
    ]


def test_the_scan_sees_the_actions() -> None:
    sent = {name for _, name, _ in _sends()}
    assert {"utter_bind_invitation", "utter_default", "utter_appt_booked", "utter_faq_unsure"} <= sent


def test_every_response_an_action_names_is_in_the_domain() -> None:
    missing = [f"{where}: {name}" for where, name in _literals() if name not in domain_responses()]
    assert not missing, "responses missing from bot/domain/*.yml:\n" + "\n".join(missing)


def test_every_blank_is_filled_and_nothing_else_is_passed() -> None:
    wrong = []
    for where, name, given in _sends():
        for variation in domain_responses().get(name, []):
            blanks = set(BLANK.findall(variation["text"]))
            if blanks != given:
                wrong.append(f"{where}: {name} has blanks {sorted(blanks)}, the action gives {sorted(given)}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("name", INVITING)
def test_binding_invitations_say_the_same_and_offer_the_button(name: str) -> None:
    (invitation,) = domain_responses()["utter_bind_invitation"]
    (variation,) = domain_responses()[name]
    assert invitation["text"] in variation["text"]
    assert variation["buttons"] == [BIND_BUTTON]


def test_the_actions_send_no_fixed_text() -> None:
    """A string literal sent as ``text=`` is fixed wording: it belongs in the domain's responses."""
    fixed = []
    for path in sorted(ACTIONS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "utter_message":
                text = next((k.value for k in node.keywords if k.arg == "text"), None)
                if isinstance(text, ast.Constant | ast.JoinedStr | ast.BinOp):
                    fixed.append(f"{path.name}:{node.lineno}")
    assert not fixed, "fixed text sent from code:\n" + "\n".join(fixed)
