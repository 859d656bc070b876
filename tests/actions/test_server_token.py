"""Finding 6 of #19: the action server answers Rasa only (``ACTIONS_TOKEN``, sent as ``?token=``).

Without the check, anyone on the host could post ``next_action: action_check_balance`` with a
bound customer's sender id and read the balances.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic

from actions.__main__ import require_token
from tests.actions.conftest import SDK_VERSION, texts, tracker
from tests.actions.test_answers import OWNER

TOKEN = "rasa-to-actions-0123456789abcdef"  # noqa: S105 - test value


async def test_calls_without_rasas_token_are_refused(bank_url: str, domain: dict[str, Any]) -> None:
    Sanic.test_mode = True
    executor = ActionExecutor()
    executor.register_package("actions")
    app = create_app(executor)
    require_token(app, TOKEN)
    payload = {
        "next_action": "action_check_balance", "sender_id": OWNER,
        "tracker": tracker(OWNER, "查余额", "check_balance"), "domain": domain, "version": SDK_VERSION,
    }  # fmt: skip

    for params in ({}, {"token": "wrong"}, {"token": TOKEN[:-1]}, {"token": TOKEN + "x"}):
        _, resp = await app.asgi_client.post("/webhook", json=payload, params=params)
        assert resp.status == 401, params
        assert "元" not in resp.text
    _, listing = await app.asgi_client.get("/actions")
    assert listing.status == 401

    _, health = await app.asgi_client.get("/health")
    assert health.status == 200
    _, resp = await app.asgi_client.post("/webhook", json=payload, params={"token": TOKEN})
    assert resp.status == 200
    assert "元" in "".join(texts(resp.json))  # the owner's balance, as Rasa would get it


def test_the_server_will_not_listen_beyond_this_machine_without_a_token() -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "ACTIONS_TOKEN"} | {"SANIC_HOST": "0.0.0.0"}  # noqa: S104
    result = subprocess.run(
        [sys.executable, "-m", "actions", "-p", "1"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0 and "ACTIONS_TOKEN" in result.stderr
