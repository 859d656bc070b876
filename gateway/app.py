"""The gateway's aiohttp application: web chat, WeChat, RM console, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from core.db import make_engine, make_sessionmaker
from core.health import actions_health_url, database_probe, health_routes, http_probe
from core.metrics import metrics_handler, metrics_middleware
from core.settings import Settings
from crm.access.identity import VerificationPolicies
from gateway.console.api import setup_console
from gateway.console.campaigns import setup_campaigns
from gateway.console.history import setup_history
from gateway.console.insights import setup_insights
from gateway.console.surveys import setup_surveys
from gateway.console.tickets import setup_tickets
from gateway.conversation import ConversationService
from gateway.handoff.service import HandoffService
from gateway.handoff.settings import HandoffSettings
from gateway.keys import CHAT, ENGINE, HTTP, SESSION_FACTORY, SETTINGS
from gateway.rasa_client import RasaClient, rasa_session
from gateway.security_headers import install_security_headers
from gateway.sms_callbacks import setup_sms_callbacks
from gateway.surveys import SurveyHook
from gateway.webchat import setup_webchat
from gateway.wechat.routes import WECHAT_API_KEY, setup_wechat
from gateway.wechat.settings import WeChatSettings
from outbound.sender import OutboundSender


def create_app(settings: Settings, handoff_settings: HandoffSettings | None = None) -> web.Application:
    """Build the gateway. Nothing connects until the app starts (see ``_resources``).

    Args:
        settings: the application settings.
        handoff_settings: RM handoff timeouts and working hours (default: ``HANDOFF_*`` from the environment).
    """
    app = web.Application(client_max_size=64 * 1024, middlewares=[metrics_middleware])
    app[SETTINGS] = settings
    install_security_headers(app, settings)
    engine = make_engine(settings.database_url)
    app[ENGINE] = engine
    app[SESSION_FACTORY] = make_sessionmaker(engine)
    rasa = RasaClient(settings.rasa_url, timeout_s=settings.rasa_timeout_s, token=settings.rasa_token)

    # RM replies and other handoff messages go out like campaign messages (outbound/sender.py).
    outbound = OutboundSender(app[SESSION_FACTORY], wechat=None)
    handoff = HandoffService(handoff_settings or HandoffSettings.from_env(), app[SESSION_FACTORY], rasa,
                             outbound)
    chat = ConversationService(
        app[SESSION_FACTORY], rasa, handoff=handoff, surveys=SurveyHook(), bank_hotline=settings.bank_hotline,
        verification=VerificationPolicies.from_settings(settings),
    )
    app[CHAT] = chat
    holder: dict[str, aiohttp.ClientSession] = {}

    async def _resources(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession()
        holder["http"] = session
        app[HTTP] = session
        rasa_http = rasa_session(settings.rasa_max_concurrency)
        rasa.attach(rasa_http)
        yield
        await chat.drain(timeout_s=5)  # late bot answers still on their way get a moment to land
        await rasa_http.close()
        await session.close()
        engine.dispose()

    app.cleanup_ctx.append(_resources)
    probes = {
        "database": database_probe(engine),
        "rasa": http_probe(settings.rasa_url.rstrip("/") + "/", lambda: holder["http"]),
        "actions": http_probe(actions_health_url(settings.actions_url), lambda: holder["http"]),
    }
    app.add_routes(health_routes(probes))
    app.router.add_get("/metrics", metrics_handler)
    setup_webchat(app)
    setup_sms_callbacks(app)
    setup_wechat(app, WeChatSettings.from_settings(settings), chat, app[SESSION_FACTORY])

    async def _outbound_wechat(app: web.Application) -> AsyncIterator[None]:
        # The WeChat API client exists once setup_wechat's cleanup context has started.
        outbound.attach_wechat(app[WECHAT_API_KEY])
        yield

    app.cleanup_ctx.append(_outbound_wechat)
    setup_console(app, handoff)
    setup_campaigns(app)
    setup_insights(app)
    setup_surveys(app)
    setup_tickets(app, handoff)
    setup_history(app)
    app.cleanup_ctx.append(handoff.sweeper)  # after _resources: the sweeper talks to Rasa over HTTP
    return app
