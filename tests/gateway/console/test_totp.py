"""The console's TOTP second factor: supervisors must enrol, codes after the password, no replays."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pyotp
import pytest
from aiohttp.test_utils import TestClient

from crm.models import RelationshipManager
from gateway.console.totp import matching_step, seal, unseal
from gateway.keys import SESSION_FACTORY
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    AUTHENTICATOR,
    PASSWORD,
    db_url,
    fake_rasa,
    finish_login,
    gateway,
    login_clock,
    rm_by_login,
    template_db,
)
from tests.gateway.console.test_login_throttle import proxied  # noqa: F401 - fixture


class Console:
    """One browser's cookie jar against the console API."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def password(self, login: str, password: str = PASSWORD) -> dict[str, Any]:
        resp = await self.http.post(self.url("/console/api/login"), json={"login": login, "password": password})
        assert resp.status == 200, await resp.text()
        answer = dict(await resp.json())
        self.csrf = answer["csrf"]
        return answer

    async def post(self, path: str, body: dict[str, Any] | None = None) -> aiohttp.ClientResponse:
        return await self.http.post(self.url(path), json=body or {}, headers={"X-CSRF-Token": self.csrf})

    async def get(self, path: str) -> aiohttp.ClientResponse:
        return await self.http.get(self.url(path))


@pytest.fixture
async def console(gateway: TestClient) -> AsyncIterator[list[Console]]:
    made: list[Console] = []
    yield made
    for c in made:
        await c.http.close()


def new(console: list[Console], gateway: TestClient) -> Console:
    console.append(Console(gateway))
    return console[-1]


async def test_a_supervisor_must_enrol_before_using_the_console(
    console: list[Console], gateway: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sup = new(console, gateway)
    assert (await sup.password("sup004"))["next"] == "enrol"
    for path in ("/console/api/me", "/console/api/conversations", "/console/api/stats", "/console/api/campaigns"):
        resp = await sup.get(path)
        assert resp.status == 403, path
        assert (await resp.json())["error"] == "totp_enrolment_required"
    assert (await sup.post("/console/api/heartbeat")).status == 403

    setup = await (await sup.post("/console/api/totp/setup")).json()
    assert setup["uri"].startswith("otpauth://totp/") and "sup004" in setup["uri"]
    assert setup["qr"].startswith("data:image/svg+xml")
    secret = AUTHENTICATOR.learn("sup004", setup["uri"])
    wrong = await sup.post("/console/api/totp/confirm", {"code": "000000"})
    assert wrong.status == 400 and "验证码不正确" in (await wrong.json())["message"]
    assert (await sup.get("/console/api/me")).status == 403  # not enabled by a wrong code

    confirmed = await sup.post("/console/api/totp/confirm", {"code": await AUTHENTICATOR.code("sup004")})
    assert confirmed.status == 200
    sup.csrf = (await confirmed.json())["csrf"]
    me = await sup.get("/console/api/me")
    assert me.status == 200 and (await me.json())["role"] == "supervisor"
    assert (await sup.get("/console/api/stats")).status == 200

    stored = rm_by_login(gateway.app[SESSION_FACTORY], "sup004")
    assert stored.totp_enabled_at is not None and stored.totp_secret is not None
    assert secret not in stored.totp_secret  # sealed, not in clear
    assert all(secret not in r.getMessage() for r in caplog.records)


async def test_login_asks_for_the_code_and_refuses_a_replayed_one(console: list[Console], gateway: TestClient) -> None:
    first = new(console, gateway)
    await finish_login(first.http, first.url, "sup008", await first.password("sup008"))  # enrols

    second = new(console, gateway)
    assert (await second.password("sup008"))["next"] == "totp"
    pending = await second.get("/console/api/me")
    assert pending.status == 401 and (await pending.json())["error"] == "totp_required"
    bad = await second.post("/console/api/login/totp", {"code": "12345x"})
    assert bad.status == 401 and (await bad.json())["error"] == "bad_code"
    code = await AUTHENTICATOR.code("sup008")
    ok = await second.post("/console/api/login/totp", {"code": code})
    assert ok.status == 200
    second.csrf = (await ok.json())["csrf"]
    assert (await second.get("/console/api/me")).status == 200

    third = new(console, gateway)  # someone who saw the code on the screen, within its 30 s
    await third.password("sup008")
    replay = await third.post("/console/api/login/totp", {"code": code})
    assert replay.status == 401 and (await replay.json())["error"] == "code_used"
    assert (await third.get("/console/api/me")).status == 401


@pytest.mark.usefixtures("login_clock")
async def test_wrong_codes_are_slowed_down_like_wrong_passwords(console: list[Console], gateway: TestClient) -> None:
    rm = new(console, gateway)
    await finish_login(rm.http, rm.url, "sup004", await rm.password("sup004"))
    guesser = new(console, gateway)
    await guesser.password("sup004")
    statuses = []
    for guess in ("111111", "222222", "333333", "444444", "555555", "666666"):
        resp = await guesser.post("/console/api/login/totp", {"code": guess})
        statuses.append((resp.status, (await resp.json())["error"]))
    # Three free tries for this address (the password step counted as one), then backoff.
    assert statuses[0] == (401, "bad_code") and statuses[1] == (401, "bad_code")
    assert statuses[2][0] == 429
    assert (await guesser.get("/console/api/me")).status == 401


async def test_a_pending_login_takes_five_wrong_codes_at_most(console: list[Console], proxied: TestClient) -> None:
    owner = new(console, proxied)
    await finish_login(owner.http, owner.url, "sup004", await owner.password("sup004"))
    guesser = new(console, proxied)
    await guesser.password("sup004")
    errors = []
    for i in range(6):  # from a new address each time, so only the session's own limit binds
        resp = await guesser.http.post(
            guesser.url("/console/api/login/totp"),
            json={"code": f"00000{i}"},
            headers={"X-CSRF-Token": guesser.csrf, "X-Forwarded-For": f"192.0.2.{i + 1}"},
        )
        errors.append((resp.status, (await resp.json())["error"]))
    assert errors[:4] == [(401, "bad_code")] * 4
    assert errors[4] == (401, "login_required") and errors[5] == (401, "login_required")


async def test_an_rm_may_turn_the_second_factor_on(console: list[Console], gateway: TestClient) -> None:
    rm = new(console, gateway)
    assert (await rm.password("rm001"))["next"] == "done"
    status = await (await rm.get("/console/api/totp")).json()
    assert status == {"enabled": False, "required": False}
    setup = await (await rm.post("/console/api/totp/setup")).json()
    AUTHENTICATOR.learn("rm001", setup["uri"])
    assert (await rm.post("/console/api/totp/confirm", {"code": await AUTHENTICATOR.code("rm001")})).status == 200
    assert (await (await rm.get("/console/api/totp")).json())["enabled"] is True
    assert (await rm.post("/console/api/totp/setup")).status == 409  # no silent replacement
    again = new(console, gateway)
    assert (await again.password("rm001"))["next"] == "totp"

    assert (await rm.post("/console/api/totp/disable", {"code": "000000"})).status == 400
    assert (await rm.post("/console/api/totp/disable", {"code": await AUTHENTICATOR.code("rm001")})).status == 200
    assert (await new(console, gateway).password("rm001"))["next"] == "done"


async def test_a_supervisor_cannot_turn_the_second_factor_off(console: list[Console], gateway: TestClient) -> None:
    sup = new(console, gateway)
    sup.csrf = (await finish_login(sup.http, sup.url, "sup004", await sup.password("sup004")))["csrf"]
    resp = await sup.post("/console/api/totp/disable", {"code": await AUTHENTICATOR.code("sup004")})
    assert resp.status == 403
    assert (await new(console, gateway).password("sup004"))["next"] == "totp"


def test_codes_typed_with_full_width_digits_or_spaces_are_read() -> None:
    from gateway.console.totp import read_code

    assert read_code("１２３ ４５６") == "123456"
    assert read_code(["123456"]) == ""
    assert matching_step(pyotp.random_base32(), read_code("١٢٣٤٥٦"), dt.datetime.now(dt.UTC)) is None


def test_codes_match_one_step_either_side_only() -> None:
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    now = dt.datetime(2026, 12, 7, 2, 0, 10, tzinfo=dt.UTC)
    step = totp.timecode(now)
    for offset in (-1, 0, 1):
        assert matching_step(secret, totp.generate_otp(step + offset), now) == step + offset
    assert matching_step(secret, totp.generate_otp(step + 2), now) is None
    assert matching_step(secret, "12345", now) is None


def test_sealed_secrets_open_only_with_the_key_and_for_their_rm() -> None:
    sealed = seal("key-one", 7, "JBSWY3DPEHPK3PXP")
    assert "JBSWY3DPEHPK3PXP" not in sealed
    assert unseal("key-one", 7, sealed) == "JBSWY3DPEHPK3PXP"
    assert unseal("key-two", 7, sealed) is None
    assert unseal("key-one", 8, sealed) is None  # copied onto another RM's row
    assert unseal("key-one", 7, None) is None


def test_supervisor_role_is_what_makes_the_factor_required(gateway: TestClient) -> None:
    from crm.access import console as accounts

    with gateway.app[SESSION_FACTORY]() as s:
        sup = s.query(RelationshipManager).filter_by(login="sup004").one()
        rm = s.query(RelationshipManager).filter_by(login="rm001").one()
        assert accounts.next_stage(sup) == "enrol" and accounts.next_stage(rm) == "full"
