"""Prometheus metrics for every bankcare service, plus the aiohttp pieces to expose them.

Metrics live on a registry owned by :class:`Metrics` rather than prometheus-client's global one,
so tests (and several apps in one process) get independent counters. Services use the
process-wide instance from :func:`get_metrics`::

    m = get_metrics()
    m.messages.labels(channel="wechat", intent="answered").inc()
    with m.rasa_latency.time():
        ...

Label values are limited to small fixed sets (channel, intent, status, route template) -- never an
open id, a phone number or a raw URL path, which would both leak customer data and explode the
number of series.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

# Chat latencies: WeChat waits 5 s for a passive reply, so resolution matters below that.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.5, 5.0, 10.0)
# Waiting for a relationship manager: seconds to an hour.
QUEUE_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Metrics:
    """All bankcare metrics, registered on one registry.

    Attributes:
        messages: inbound customer messages by ``channel`` and ``intent``: what became of the message
            (answered, fallback, handoff, ...; see ``gateway.conversation``), not Rasa's NLU intent.
        gateway_latency: gateway end-to-end seconds from receiving a message to having the reply.
        rasa_latency: seconds per call from the gateway to the Rasa server, by ``outcome``.
        http_latency: seconds per HTTP request, by ``method``, ``route`` template and ``status``.
        fallbacks: replies where the bot fell back (did not understand), by ``channel``.
        handoffs: conversations handed to a relationship manager, by ``channel`` and ``reason``.
        queue_wait: seconds a customer waited in the queue before an RM took over.
        deliveries: outbound care/marketing deliveries by ``channel`` and ``status``.
        otp_requests: binding-code requests by ``outcome``: ``sent`` (an SMS went out), ``unmatched``
            (the details matched no customer: nothing sent, the same reply), ``refused`` (a limit).
        otp_refusals: refused binding-code requests by ``scope`` (phone, identity, address, lock) and
            ``limit`` (gap, hour, day, locked): which limit an SMS flood runs into.
        otp_verifications: binding codes typed, by ``outcome`` (verified, wrong_code, locked, expired,
            no_challenge).
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, process: bool = True) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        if process:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        r = self.registry
        self.messages = Counter(
            "bankcare_messages", "Inbound customer messages.", ["channel", "intent"], registry=r
        )
        self.gateway_latency = Histogram(
            "bankcare_gateway_latency_seconds",
            "Gateway end-to-end time from receiving a message to having the reply.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rasa_latency = Histogram(
            "bankcare_rasa_call_seconds",
            "Time per call from the gateway to the Rasa server.",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_latency = Histogram(
            "bankcare_http_request_seconds",
            "Time per HTTP request served.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.fallbacks = Counter(
            "bankcare_fallbacks", "Replies where the bot did not understand.", ["channel"], registry=r
        )
        self.handoffs = Counter(
            "bankcare_handoffs",
            "Conversations handed to a relationship manager.",
            ["channel", "reason"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "bankcare_queue_wait_seconds",
            "Time a customer waited before a relationship manager took the conversation.",
            buckets=QUEUE_BUCKETS,
            registry=r,
        )
        self.deliveries = Counter(
            "bankcare_deliveries",
            "Outbound care and marketing deliveries.",
            ["channel", "status"],
            registry=r,
        )
        self.otp_requests = Counter(
            "bankcare_otp_requests", "Binding-code (SMS) requests by outcome.", ["outcome"], registry=r
        )
        self.otp_refusals = Counter(
            "bankcare_otp_refusals",
            "Binding-code requests refused, by the limit that refused them.",
            ["scope", "limit"],
            registry=r,
        )
        self.otp_verifications = Counter(
            "bankcare_otp_verifications", "Binding codes typed, by outcome.", ["outcome"], registry=r
        )
        self.console_logins = Counter(
            "bankcare_console_logins",
            "Console login steps (password, TOTP code) by outcome: ok, wrong, throttled.",
            ["step", "outcome"],
            registry=r,
        )

    def render(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)


_metrics: Metrics | None = None


def get_metrics() -> Metrics:
    """The process-wide :class:`Metrics`, created on first use (not at import)."""
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
    return _metrics


METRICS_KEY = web.AppKey("bankcare_metrics", Metrics)


def _metrics_for(app: web.Application) -> Metrics:
    metrics = app.get(METRICS_KEY)
    return metrics if metrics is not None else get_metrics()


async def metrics_handler(request: web.Request) -> web.Response:
    """``GET /metrics``: the app's metrics (``app[METRICS_KEY]``, else the process-wide ones)."""
    body = _metrics_for(request.app).render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _route_label(request: web.Request) -> str:
    # The route template (/console/{conversation_id}), never the raw path: raw paths carry ids.
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Time every request into ``bankcare_http_request_seconds``."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        _metrics_for(request.app).http_latency.labels(
            method=request.method, route=_route_label(request), status=str(status)
        ).observe(time.perf_counter() - started)
