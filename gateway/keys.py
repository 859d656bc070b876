"""Typed application keys shared by the gateway's modules."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core.settings import Settings
from gateway.conversation import ConversationService

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", Engine)
SESSION_FACTORY = web.AppKey("session_factory", sessionmaker[Session])
HTTP = web.AppKey("http", aiohttp.ClientSession)
CHAT = web.AppKey("chat", ConversationService)
