"""deploy/rasa/endpoints.yml and the PostgreSQL init script, exercised by Rasa itself.

The init script creates a throw-away tracker database and role on the local PostgreSQL; then the
Rasa venv builds two tracker stores and two lock stores from the production endpoints file (as two
Rasa instances would) and shows that a conversation saved by one, form and slots included, is
seen by the other, and that the conversation lock is shared through Redis.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PY = ROOT / ".venv-rasa" / "bin" / "python"
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "initdb" / "10-rasa-tracker.sh"
ENDPOINTS = ROOT / "deploy" / "rasa" / "endpoints.yml"
PROBE = Path(__file__).parent / "helpers" / "rasa_stores_probe.py"

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def require(condition: bool, why: str) -> None:
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)


def admin_env() -> dict[str, str]:
    """libpq settings for an administrator on the local server (PGUSER/PGPASSWORD may override)."""
    env = {k: v for k, v in os.environ.items() if k.startswith("PG")}
    env.setdefault("PGHOST", "127.0.0.1")
    env.setdefault("PGPORT", "5432")
    env.setdefault("PGUSER", "postgres")
    env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
    return env


def psql(sql: str) -> None:
    subprocess.run(
        ["psql", "-v", "ON_ERROR_STOP=1", "-d", "postgres", "-c", sql],
        env=admin_env(),
        check=True,
        capture_output=True,
        timeout=30,
    )


@pytest.fixture
def tracker_db() -> Iterator[dict[str, str]]:
    require(shutil.which("psql") is not None, "psql not installed")
    require(reachable(5432), "PostgreSQL not running on 127.0.0.1:5432")
    suffix = secrets.token_hex(4)
    names = {
        "RASA_TRACKER_DB": f"bankcare_test_tracker_{suffix}",
        "RASA_TRACKER_DB_USER": f"bankcare_test_rasa_{suffix}",
        # Quotes and a space: the script must pass values through psql variables, not the shell.
        "RASA_TRACKER_DB_PASSWORD": f"p'w {secrets.token_hex(8)}",
    }
    env = admin_env() | names | {"POSTGRES_USER": admin_env()["PGUSER"], "POSTGRES_DB": "postgres"}
    result = subprocess.run(["sh", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    try:
        yield names
    finally:
        psql(f'DROP DATABASE IF EXISTS "{names["RASA_TRACKER_DB"]}" WITH (FORCE)')
        psql(f'DROP ROLE IF EXISTS "{names["RASA_TRACKER_DB_USER"]}"')


def test_two_rasa_instances_share_conversation_and_lock(tracker_db: dict[str, str]) -> None:
    require(RASA_PY.exists(), "Rasa venv .venv-rasa missing")
    require(reachable(6379), "Redis not running on 127.0.0.1:6379")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "RASA_TELEMETRY_ENABLED": "false",
        "RASA_TRACKER_DB_HOST": "127.0.0.1",
        "RASA_TRACKER_DB_PORT": "5432",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": "6379",
        "REDIS_PASSWORD": os.environ.get("TEST_REDIS_PASSWORD", ""),
        "RASA_LOCK_DB": "1",
        "ACTIONS_URL": "http://127.0.0.1:5055/webhook",
        "ACTIONS_TOKEN": "rasa-to-actions-token",
        # `rasa run` puts its working directory on sys.path; a plain script needs it said.
        "PYTHONPATH": str(ROOT),
        **tracker_db,
    }
    result = subprocess.run(
        [str(RASA_PY), "-W", "ignore", str(PROBE), str(ENDPOINTS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    # Rasa falls back to an in-memory store on some errors; that would break multi-instance state.
    assert outcome["tracker_store"] == "RedactingSQLTrackerStore"
    assert outcome["lock_store"] == "RedisLockStore"
    assert outcome["action_url"] == "http://127.0.0.1:5055/webhook"
    assert outcome["action_token"] == "rasa-to-actions-token"  # Rasa sends it to the action server (#19)
    assert outcome["found"] is True
    assert outcome["events"] >= 3
    assert outcome["stored_rows"] == outcome["events"]
    assert outcome["secrets_stored"] == []  # phone and SMS code never reach the tracker database
    assert outcome["active_loop"] == "lost_card_form"
    assert outcome["card_tail"] == "1234"
    assert outcome["locked_for_b"] is True


def test_tracker_role_cannot_reach_other_databases(tracker_db: dict[str, str]) -> None:
    """The role created for Rasa owns its database and nothing else."""
    env = admin_env() | {
        "PGUSER": tracker_db["RASA_TRACKER_DB_USER"],
        "PGPASSWORD": tracker_db["RASA_TRACKER_DB_PASSWORD"],
    }
    own = subprocess.run(
        ["psql", "-d", tracker_db["RASA_TRACKER_DB"], "-tAc", "SELECT current_user"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert own.returncode == 0, own.stderr
    assert own.stdout.strip() == tracker_db["RASA_TRACKER_DB_USER"]
    create = subprocess.run(
        ["psql", "-d", tracker_db["RASA_TRACKER_DB"], "-tAc", "CREATE DATABASE should_not_exist"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert create.returncode != 0
