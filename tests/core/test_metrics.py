"""core.metrics on a real aiohttp app: the middleware times requests, /metrics exposes them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import METRICS_KEY, Metrics, get_metrics, metrics_handler, metrics_middleware


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse exposition text into {(sample name, sorted labels): value}."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
async def client() -> AsyncIterator[tuple[TestClient, Metrics]]:
    metrics = Metrics(process=False)

    async def item(request: web.Request) -> web.Response:
        metrics.messages.labels(channel="webchat", intent="ask_faq").inc()
        return web.json_response({"id": request.match_info["item_id"]})

    async def broken(_request: web.Request) -> web.Response:
        raise RuntimeError("deliberate")

    async def forbidden(_request: web.Request) -> web.Response:
        raise web.HTTPForbidden()

    app = web.Application(middlewares=[metrics_middleware])
    app[METRICS_KEY] = metrics
    app.router.add_get("/items/{item_id}", item)
    app.router.add_get("/broken", broken)
    app.router.add_get("/forbidden", forbidden)
    app.router.add_get("/metrics", metrics_handler)
    async with TestClient(TestServer(app)) as c:
        yield c, metrics


async def test_requests_are_timed_by_route_template_and_status(client: tuple[TestClient, Metrics]) -> None:
    c, _metrics = client
    for item_id in ("13812345678", "other"):
        assert (await c.get(f"/items/{item_id}")).status == 200
    assert (await c.get("/broken")).status == 500
    assert (await c.get("/forbidden")).status == 403
    assert (await c.get("/nowhere")).status == 404

    resp = await c.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    text = await resp.text()
    got = samples(text)

    def count(route: str, status: str) -> float:
        key = (
            "bankcare_http_request_seconds_count",
            (("method", "GET"), ("route", route), ("status", status)),
        )
        return got.get(key, 0.0)

    assert count("/items/{item_id}", "200") == 2
    assert count("/broken", "500") == 1
    assert count("/forbidden", "403") == 1
    assert count("unmatched", "404") == 1
    # The raw path (here a phone-number-like id) never becomes a label value.
    assert "13812345678" not in text
    assert got[("bankcare_messages_total", (("channel", "webchat"), ("intent", "ask_faq")))] == 2


async def test_all_documented_metrics_are_exposed(client: tuple[TestClient, Metrics]) -> None:
    c, metrics = client
    metrics.fallbacks.labels(channel="wechat").inc()
    metrics.handoffs.labels(channel="wechat", reason="customer_request").inc()
    metrics.queue_wait.observe(42.0)
    metrics.deliveries.labels(channel="wechat", status="sent").inc(3)
    metrics.deliveries.labels(channel="sms", status="failed").inc()
    metrics.gateway_latency.labels(channel="wechat").observe(0.3)
    with metrics.rasa_latency.labels(outcome="ok").time():
        pass
    got = samples(await (await c.get("/metrics")).text())
    assert got[("bankcare_fallbacks_total", (("channel", "wechat"),))] == 1
    assert got[("bankcare_handoffs_total", (("channel", "wechat"), ("reason", "customer_request")))] == 1
    assert got[("bankcare_queue_wait_seconds_sum", ())] == 42.0
    assert got[("bankcare_queue_wait_seconds_bucket", (("le", "60.0"),))] == 1
    assert got[("bankcare_queue_wait_seconds_bucket", (("le", "30.0"),))] == 0
    assert got[("bankcare_deliveries_total", (("channel", "wechat"), ("status", "sent")))] == 3
    assert got[("bankcare_deliveries_total", (("channel", "sms"), ("status", "failed")))] == 1
    assert got[("bankcare_gateway_latency_seconds_count", (("channel", "wechat"),))] == 1
    assert got[("bankcare_rasa_call_seconds_count", (("outcome", "ok"),))] == 1


def test_separate_instances_do_not_share_counts() -> None:
    a, b = Metrics(process=False), Metrics(process=False)
    a.fallbacks.labels(channel="wechat").inc()
    assert b'bankcare_fallbacks_total{channel="wechat"}' not in b.render()
    assert b'bankcare_fallbacks_total{channel="wechat"} 1.0' in a.render()


def test_process_wide_instance_includes_process_metrics() -> None:
    assert get_metrics() is get_metrics()
    assert b"process_cpu_seconds_total" in get_metrics().render()
