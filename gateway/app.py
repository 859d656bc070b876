"""The gateway's aiohttp application: web chat, WeChat, RM console, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bankcare.settings import Settings
from crm.db import make_engine, make_sessionmaker
from gateway.conversation import ConversationService
from gateway.keys import CHAT, ENGINE, HTTP, SESSION_FACTORY, SETTINGS
from gateway.rasa_client import RasaClient
from gateway.webchat import setup_webchat


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(settings: Settings) -> web.Application:
    """Build the gateway. Nothing connects until the app starts (see ``_resources``)."""
    app = web.Application(client_max_size=64 * 1024)
    app[SETTINGS] = settings
    engine = make_engine(settings.database_url)
    app[ENGINE] = engine
    app[SESSION_FACTORY] = make_sessionmaker(engine)
    rasa = RasaClient(settings.rasa_url, timeout_s=settings.rasa_timeout_s)
    app[CHAT] = ConversationService(app[SESSION_FACTORY], rasa)

    async def _resources(app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession()
        app[HTTP] = session
        rasa.attach(session)
        yield
        await session.close()
        engine.dispose()

    app.cleanup_ctx.append(_resources)
    app.router.add_get("/healthz", healthz)
    setup_webchat(app)
    return app
