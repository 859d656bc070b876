"""Fixtures for the WeChat API client tests: one account, a database, the WeChat sandbox as WeChat.

Imported by the test modules that use them (``from tests.outbound.wechat_fixtures import ...``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.orm import Session, sessionmaker

import crm.models  # noqa: F401 - registers every table on Base.metadata
from core.db import make_engine, make_sessionmaker
from crm.models.base import Base
from gateway.wechat.sandbox import SandboxSettings, create_sandbox_app
from gateway.wechat.settings import WeChatSettings
from outbound.wechat_api import WeChatApiSettings

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


@pytest.fixture
def settings() -> WeChatApiSettings:
    # api_base is replaced by the sandbox URL where a test needs the API (with_api_base)
    return WeChatApiSettings(app_id="wxbankcaretest01", app_secret="test-secret", api_base="http://127.0.0.1:1")


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'wechat.db'}")
    Base.metadata.create_all(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
async def sandbox(settings: WeChatApiSettings) -> AsyncIterator[TestClient[Any, Any]]:
    """The WeChat sandbox (the gateway's stand-in for WeChat's servers) knowing this account."""
    account = WeChatSettings(token="test-token-2024", app_id=settings.app_id, app_secret=settings.app_secret)
    client = TestClient(TestServer(create_sandbox_app(SandboxSettings(wechat=account))))
    await client.start_server()
    yield client
    await client.close()


def with_api_base(settings: WeChatApiSettings, client: TestClient[Any, Any]) -> WeChatApiSettings:
    return dataclasses.replace(settings, api_base=str(client.make_url("")).rstrip("/"))
