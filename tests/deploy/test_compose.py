"""docker-compose.yml, Dockerfile and .env.example, checked with a real Compose implementation.

`docker-compose config` (Debian's docker-compose 1.29) parses, validates against the Compose
schema and interpolates the file offline; no Docker engine is needed. Locally the tests skip when
the tool is missing; with CI=true they must run.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
APP_SERVICES = ("migrate", "actions", "gateway", "scheduler")
SETTINGS_VARS = sorted(f.name.upper() for f in dataclasses.fields(Settings) if f.name != "extra")
# Tokens only one service holds (#19): Rasa's API token the gateway, the action server's token the
# action server (and Rasa, which sends it).
SERVICE_TOKENS = {"RASA_TOKEN": "gateway", "ACTIONS_TOKEN": "actions"}


def compose_binary() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-compose is required when CI=true (apt-get install -y docker-compose)")
        pytest.skip("docker-compose not installed (apt-get install -y docker-compose)")
    return found


def run_config(env_file: Path | None, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [compose_binary(), "--project-directory", str(ROOT), "-f", str(COMPOSE)]
    if env_file is not None:
        cmd += ["--env-file", str(env_file)]
    # A clean environment: variables of the developer's shell must not fill gaps in .env.example.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [*cmd, "config", *extra], capture_output=True, text=True, env=env, timeout=60, check=False
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    result = run_config(ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def env_example_vars() -> tuple[set[str], set[str]]:
    """(variables set in .env.example, variables only mentioned in comments)."""
    active, commented = set(), set()
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if m := re.match(r"^([A-Z][A-Z0-9_]*)=", line):
            active.add(m.group(1))
        elif m := re.match(r"^#\s*([A-Z][A-Z0-9_]*)=", line):
            commented.add(m.group(1))
    return active, commented


def test_services_and_images(config: dict[str, Any]) -> None:
    services = config["services"]
    assert set(services) >= {"postgres", "redis", "rasa", "rasa-train", "actions", "gateway", "scheduler"}
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7"
    assert services["rasa"]["image"] == services["rasa-train"]["image"] == "rasa/rasa:3.6.21-full"
    images = {services[s]["image"] for s in APP_SERVICES}
    assert len(images) == 1, "actions, gateway, scheduler and migrate share one application image"
    for name in APP_SERVICES:
        assert services[name]["build"]["dockerfile"] == "Dockerfile"
    assert services["actions"]["command"][:3] == ["python", "-m", "actions"]  # redacting logs
    assert services["gateway"]["command"] == ["python", "-m", "gateway"]
    assert services["scheduler"]["command"] == ["python", "-m", "care_scheduler"]


def test_healthchecks_and_start_order(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in ("postgres", "redis", "rasa", "actions", "gateway"):
        assert services[name]["healthcheck"]["test"], name
    # Every service_healthy dependency actually has a health check, every
    # service_completed_successfully dependency is a one-shot job.
    for name, svc in services.items():
        for dep, spec in svc.get("depends_on", {}).items():
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s health check"
            elif condition == "service_completed_successfully":
                assert services[dep].get("restart", "no") == "no", f"{dep} must be one-shot"
            else:
                pytest.fail(f"{name} -> {dep}: use a condition, got {condition}")
    deps = {n: svc.get("depends_on", {}) for n, svc in services.items()}
    assert deps["rasa"]["rasa-train"]["condition"] == "service_completed_successfully"
    assert deps["rasa"]["postgres"]["condition"] == "service_healthy"
    assert deps["rasa"]["redis"]["condition"] == "service_healthy"
    assert deps["migrate"]["postgres"]["condition"] == "service_healthy"
    for name in ("actions", "gateway", "scheduler"):
        assert deps[name]["migrate"]["condition"] == "service_completed_successfully"
    assert deps["gateway"]["rasa"]["condition"] == "service_healthy"
    assert deps["gateway"]["actions"]["condition"] == "service_healthy"


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) pairs; compose 1.29 prints short syntax, compose v2 long syntax."""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, str):
            source, target = v.split(":")[:2]
        else:
            source, target = v["source"], v["target"]
        out.append((source, target))
    return out


def test_volumes_and_exposure(config: dict[str, Any]) -> None:
    assert {"pgdata", "rasa-models"} <= set(config["volumes"])
    services = config["services"]

    def named_volumes(svc: str) -> set[str]:
        return {source for source, _ in mounts(services[svc]) if not source.startswith("/")}

    assert "pgdata" in named_volumes("postgres")
    assert "rasa-models" in named_volumes("rasa") and "rasa-models" in named_volumes("rasa-train")
    published = {name for name, svc in services.items() if svc.get("ports")}
    assert published == {"gateway"}, "only the gateway is reachable from outside"
    assert config["networks"]["backend"]["internal"] is True


def test_app_services_receive_every_setting(config: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        env = config["services"][name]["environment"]
        missing = [v for v in SETTINGS_VARS if v not in env and SERVICE_TOKENS.get(v, name) == name]
        assert not missing, f"{name} lacks {missing}"
        extra = [v for v, holder in SERVICE_TOKENS.items() if v in env and holder != name]
        assert not extra, f"{name} must not hold {extra}"
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert env["REDIS_URL"].startswith("redis://")
        assert env["DEMO_MODE"] == "false"
        assert env["LOG_FORMAT"] == "json"


def test_rasa_gets_every_variable_its_endpoints_file_reads(config: dict[str, Any]) -> None:
    endpoints = ROOT / "deploy" / "rasa" / "endpoints.yml"
    lines = endpoints.read_text(encoding="utf-8").splitlines()
    code = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    needed = set(re.findall(r"\$\{([A-Z0-9_]+)\}", code))
    assert {"RASA_TRACKER_DB_PASSWORD", "REDIS_HOST", "ACTIONS_URL"} <= needed
    rasa = config["services"]["rasa"]
    assert set(rasa["environment"]) >= needed
    parsed = yaml.safe_load(endpoints.read_text(encoding="utf-8"))
    assert parsed["tracker_store"]["type"] == "rasa_ext.tracker_stores.RedactingSQLTrackerStore"
    assert parsed["tracker_store"]["dialect"] == "postgresql"
    assert parsed["lock_store"]["type"] == "redis"
    assert "deploy/rasa/endpoints.yml" in rasa["command"]
    assert any(target == "/app/deploy/rasa/endpoints.yml" for _, target in mounts(rasa))
    # The custom store's code must be in the container, or Rasa silently falls back to memory.
    assert {"/app/rasa_ext", "/app/core/masking.py"} <= {target for _, target in mounts(rasa)}


def test_env_example_documents_every_variable() -> None:
    active, commented = env_example_vars()
    documented = active | commented
    missing = [v for v in SETTINGS_VARS if v not in documented]
    assert not missing, f".env.example does not mention {missing}"
    # Every variable compose interpolates is set in .env.example, so a copy of it is complete.
    interpolated = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text(encoding="utf-8")))
    assert interpolated <= active, f"not in .env.example: {interpolated - active}"
    # Placeholders are obviously placeholders, never something that could pass for a real secret.
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for secret in (
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "RASA_TRACKER_DB_PASSWORD",
        "SESSION_SECRET",
        "WECHAT_APP_SECRET",
        "WECHAT_TOKEN",
        "WECHAT_ENCODING_AES_KEY",
        "RASA_TOKEN",
        "ACTIONS_TOKEN",
    ):
        assert re.search(rf"^{secret}=CHANGE_ME", text, re.MULTILINE), secret


def test_missing_secret_stops_compose(tmp_path: Path) -> None:
    env_file = tmp_path / "incomplete.env"
    lines = [
        line
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if not line.startswith("SESSION_SECRET=")
    ]
    env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_config(env_file)
    assert result.returncode != 0
    assert "SESSION_SECRET" in result.stderr


def dockerfile_stages() -> list[list[str]]:
    """Dockerfile instructions (continuation lines joined), split by FROM."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_with_a_lean_non_root_final_stage() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    builder, final = stages[0], stages[-1]
    assert any("requirements/app.lock.txt" in line for line in builder)
    assert any(line.startswith("RUN") and "pip install" in line for line in builder)
    assert re.match(r"FROM \$\{PYTHON_IMAGE\}|FROM python:3\.11-slim", final[0])
    arg = re.search(r"^ARG PYTHON_IMAGE=(\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert arg and arg.group(1).startswith("python:3.11-slim")
    final_text = "\n".join(final)
    for tool in ("gcc", "build-essential", "g++", "make ", "-dev "):
        assert tool not in final_text, f"{tool} in the final stage"
    assert "pip install" not in final_text
    assert "COPY --from=builder /opt/venv /opt/venv" in final_text
    users = [line.split(None, 1)[1] for line in final if line.upper().startswith("USER ")]
    assert users, "final stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".env", ".git", ".venv", ".venv-rasa", "var", "models"):
        assert entry in ignored


def test_rasa_and_the_action_server_need_their_tokens(config: dict[str, Any]) -> None:
    """#19 finding 6: Rasa's API answers the gateway only, the action server Rasa only."""
    rasa = config["services"]["rasa"]
    command = rasa["command"]
    token = command[command.index("--auth-token") + 1]
    assert token == "CHANGE_ME-rasa-token" == config["services"]["gateway"]["environment"]["RASA_TOKEN"]
    assert rasa["environment"]["RASA_TOKEN"] == token  # the REST channel's check (rasa_ext/token_rest.py)
    assert rasa["environment"]["ACTIONS_TOKEN"] == config["services"]["actions"]["environment"]["ACTIONS_TOKEN"]
    endpoints = yaml.safe_load((ROOT / "deploy" / "rasa" / "endpoints.yml").read_text(encoding="utf-8"))
    assert endpoints["action_endpoint"]["token"] == "${ACTIONS_TOKEN}"
    credentials = yaml.safe_load((ROOT / "bot" / "credentials.yml").read_text(encoding="utf-8"))
    assert list(credentials) == ["rasa_ext.token_rest.TokenRestInput"]
