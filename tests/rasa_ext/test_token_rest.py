"""Finding 6 of #19: Rasa's REST channel answers the gateway only (bot/credentials.yml → rasa_ext/token_rest.py).

``--auth-token`` covers Rasa's HTTP API but not the input channels; without this, anyone on the host
could post a WeChat customer's sender id and ``查余额`` to ``/webhooks/rest/webhook``. Runs in the
Rasa venv (Python 3.10) through a probe.
"""

from __future__ import annotations

import pytest

from tests.rasa_ext.rasa_probe import run_probe


@pytest.fixture(scope="module")
def probe() -> dict[str, dict[str, str]]:
    return run_probe("token_rest_probe.py")


def test_with_a_token_only_its_holder_gets_through(probe: dict[str, dict[str, str]]) -> None:
    guarded = probe["gateway-only-token"]
    assert (guarded["missing"], guarded["wrong"], guarded["right"]) == ("401", "401", "wechat:oVictim")


def test_the_url_stays_webhooks_rest(probe: dict[str, dict[str, str]]) -> None:
    assert probe["gateway-only-token"]["name"] == "rest" and probe["gateway-only-token"]["prefix"] == "rest"


def test_without_a_token_it_is_rasas_rest_channel(probe: dict[str, dict[str, str]]) -> None:
    assert probe["none"]["missing"] == probe["none"]["right"] == "wechat:oVictim"
