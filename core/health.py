"""Liveness and readiness endpoints for the HTTP services.

``/healthz`` answers 200 as long as the process serves requests (restart me if not).
``/readyz`` runs a set of probes concurrently, each with a timeout, and answers 200 only if all
pass, else 503 (take me out of the load balancer). The body names each check and its outcome but
never a URL, host or password: probe errors are reduced to their exception type or HTTP status.

Typical wiring (the gateway)::

    probes = {
        "database": database_probe(engine),
        "rasa": http_probe(f"{settings.rasa_url}/"),
        "actions": http_probe(actions_health_url(settings.actions_url)),
    }
    app.add_routes(health_routes(probes))
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import Engine, text

#: A probe returns normally when the dependency is usable and raises otherwise.
Probe = Callable[[], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.Response]]


class ProbeFailed(Exception):
    """A dependency answered, but not as expected; the message is safe to show."""


def database_probe(engine: Engine) -> Probe:
    """Probe that runs ``SELECT 1`` on ``engine`` in a worker thread (the engine is synchronous)."""

    def _select_one() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()

    async def probe() -> None:
        await asyncio.to_thread(_select_one)

    return probe


def http_probe(url: str, session: Callable[[], aiohttp.ClientSession] | None = None) -> Probe:
    """Probe that expects a 2xx answer to ``GET url``.

    Args:
        url: e.g. ``http://rasa:5005/`` or ``http://actions:5055/health``.
        session: returns a shared client session (e.g. from the app's cleanup context); without
            it each probe opens and closes its own, which is fine at health-check rates.
    """

    async def _get(client: aiohttp.ClientSession) -> None:
        async with client.get(url, allow_redirects=False) as resp:
            if not 200 <= resp.status < 300:
                raise ProbeFailed(f"HTTP {resp.status}")

    async def probe() -> None:
        if session is not None:
            await _get(session())
            return
        async with aiohttp.ClientSession() as client:
            await _get(client)

    return probe


def actions_health_url(actions_url: str) -> str:
    """The action server's ``/health`` URL from ``ACTIONS_URL`` (which ends in ``/webhook``)."""
    base = actions_url.rstrip("/")
    if base.endswith("/webhook"):
        base = base[: -len("/webhook")]
    return f"{base}/health"


async def _run(name: str, probe: Probe, timeout_s: float) -> tuple[str, dict[str, Any]]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), timeout_s)
    except TimeoutError:
        result: dict[str, Any] = {"ok": False, "error": "timeout"}
    except ProbeFailed as exc:
        result = {"ok": False, "error": str(exc)}
    except Exception as exc:  # any failure means "not ready"; only the type is shown, it names no host
        result = {"ok": False, "error": type(exc).__name__}
    else:
        result = {"ok": True}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return name, result


async def run_probes(probes: Mapping[str, Probe], timeout_s: float = 2.0) -> dict[str, Any]:
    """Run ``probes`` concurrently; returns ``{"status": "ok"|"fail", "checks": {...}}``."""
    results = await asyncio.gather(*(_run(name, p, timeout_s) for name, p in probes.items()))
    checks = dict(results)
    ok = all(c["ok"] for c in checks.values())
    return {"status": "ok" if ok else "fail", "checks": checks}


def health_handlers(probes: Mapping[str, Probe], timeout_s: float = 2.0) -> tuple[Handler, Handler]:
    """Build the ``(healthz, readyz)`` handlers for ``probes``.

    Args:
        probes: check name -> probe; an empty mapping makes ``/readyz`` equal ``/healthz``.
        timeout_s: seconds each probe may take before it counts as failed.
    """
    frozen = dict(probes)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        body = await run_probes(frozen, timeout_s)
        return web.json_response(body, status=200 if body["status"] == "ok" else 503)

    return healthz, readyz


def health_routes(probes: Mapping[str, Probe], timeout_s: float = 2.0) -> list[web.RouteDef]:
    """``GET /healthz`` and ``GET /readyz`` route definitions for ``app.add_routes``."""
    healthz, readyz = health_handlers(probes, timeout_s)
    return [web.get("/healthz", healthz), web.get("/readyz", readyz)]
