"""Start the real processes (rasa, actions, gateway, WeChat sandbox) for end-to-end tests and benchmarks."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None, ok: int = 200) -> None:
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} while waiting for {url}")
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 - local test URL
                if resp.status == ok:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready after {timeout_s}s ({last})")


def train_model() -> Path:
    """Train (or reuse, by hash of the training data) the model the stack serves."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train_if_changed.py"), "--out", str(ROOT / "models")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError("rasa training failed")
    return Path(result.stdout.strip().splitlines()[-1])


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Stack:
    """A running assistant: gateway on ``gateway_url``; logs under ``workdir``."""

    workdir: Path
    database_url: str
    env: dict[str, str]
    gateway_url: str = ""
    rasa_url: str = ""
    actions_url: str = ""
    sandbox_url: str = ""
    services: dict[str, Service] = field(default_factory=dict)

    def start(self, name: str, cmd: list[str], extra_env: dict[str, str] | None = None) -> Service:
        log = self.workdir / f"{name}.log"
        env = {**self.env, **(extra_env or {})}
        with log.open("wb") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        service = Service(name, proc, log)
        self.services[name] = service
        return service

    def stop(self, name: str) -> None:
        service = self.services.pop(name, None)
        if service is None:
            return
        service.proc.terminate()
        try:
            service.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            service.proc.kill()
            service.proc.wait()

    def stop_all(self) -> None:
        for name in list(self.services):
            self.stop(name)

    def logs(self) -> str:
        return "\n".join(f"--- {s.name} ---\n{s.tail()}" for s in self.services.values())


def base_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "RASA_", "ACTIONS_"))}
    env.update(
        DATABASE_URL=database_url, PYTHONPATH=str(ROOT), SQLALCHEMY_SILENCE_UBER_WARNING="1",
        PYTHONUNBUFFERED="1", LOG_FORMAT="json", TF_CPP_MIN_LOG_LEVEL="3", RASA_TELEMETRY_ENABLED="false",
        SANIC_HOST="127.0.0.1",  # the action server trusts the tracker it is sent: local callers only
        WECHAT_MODE="compatible",  # the tests post both plaintext and encrypted callbacks
        DEMO_MODE="true",  # web chat sessions as demo customers (off unless turned on)
        # Rasa's API answers the gateway only, the action server Rasa only (#19).
        RASA_TOKEN=secrets.token_urlsafe(24), ACTIONS_TOKEN=secrets.token_urlsafe(24),
        # Several tests bind the same demo customer from 127.0.0.1 within a minute; the binding-code
        # limits themselves are tested in tests/crm/test_otp_limits.py and tests/actions/test_binding.py.
        OTP_LIMIT_PHONE="0/1000/10000", OTP_LIMIT_IDENTITY="0/1000/10000", OTP_LIMIT_ADDRESS="0/1000/10000",
        # Likewise every e2e chat comes from 127.0.0.1; the web chat limits are tested in
        # tests/gateway/test_webchat_limits.py.
        WEBCHAT_LIMIT_SESSIONS="off", WEBCHAT_LIMIT_MESSAGES="off", WEBCHAT_LIMIT_MESSAGES_ADDRESS="off",
        WEBCHAT_LIMIT_HANDOFFS="off", WEBCHAT_LIMIT_HANDOFFS_ADDRESS="off",
    )
    return env


def start_stack(workdir: Path, database_url: str, model: Path, with_sandbox: bool = True) -> Stack:
    stack = Stack(workdir=workdir, database_url=database_url, env=base_env(database_url))
    actions_port, rasa_port, gateway_port, sandbox_port = free_port(), free_port(), free_port(), free_port()
    stack.actions_url = f"http://127.0.0.1:{actions_port}/webhook"
    stack.rasa_url = f"http://127.0.0.1:{rasa_port}"
    stack.gateway_url = f"http://127.0.0.1:{gateway_port}"
    stack.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    stack.env.update(ACTIONS_URL=stack.actions_url, RASA_URL=stack.rasa_url, WECHAT_API_BASE=stack.sandbox_url,
                     GATEWAY_PORT=str(gateway_port))
    try:
        actions = stack.start("actions", [sys.executable, "-m", "actions",
                                          "-p", str(actions_port)])
        rasa = stack.start("rasa", [str(RASA_BIN), "run", "--enable-api", "--auth-token", stack.env["RASA_TOKEN"],
                                    "-i", "127.0.0.1", "-p", str(rasa_port),
                                    "--model", str(model), "--endpoints", "bot/endpoints.yml",
                                    "--credentials", "bot/credentials.yml"])
        if with_sandbox:
            sandbox = stack.start("sandbox", [str(VENV_BIN / "bankcare"), "wechat-sandbox", "--port",
                                              str(sandbox_port), "--gateway", stack.gateway_url])
            wait_http(f"{stack.sandbox_url}/sandbox/messages", 60, sandbox.proc)
        gateway = stack.start("gateway", [sys.executable, "-m", "gateway"])
        wait_http(f"http://127.0.0.1:{actions_port}/health", 90, actions.proc)
        wait_http(f"{stack.gateway_url}/healthz", 60, gateway.proc)
        # Loading the model took 3.5 minutes at load average 14 on 2 cores (measured 2026-12-07).
        wait_http(f"{stack.rasa_url}/status?token={stack.env['RASA_TOKEN']}", 480, rasa.proc)
        wait_http(f"{stack.gateway_url}/readyz", 60, gateway.proc)
    except Exception:
        logs = stack.logs()
        stack.stop_all()
        raise RuntimeError(f"stack failed to start\n{logs}") from None
    return stack


class WebChat:
    """A web chat customer talking to the gateway's HTTP interface (as the browser page does)."""

    def __init__(self, gateway_url: str, persona: str | None = None) -> None:
        self.base = gateway_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        self.last_id = 0
        self._post("/api/session", {"persona": persona} if persona else {})

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(  # noqa: S310 - the local gateway's URL
            self.base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with self.opener.open(req, timeout=30) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    def say(self, text: str) -> list[dict[str, Any]]:
        """Send ``text``; return the messages the assistant sent back (not the customer's own)."""
        data = self._post("/api/messages", {"text": text, "after": self.last_id})
        msgs = data["messages"]
        if msgs:
            self.last_id = max(m["id"] for m in msgs)
        return [m for m in msgs if m["direction"] == "out"]

    def reply_text(self, text: str) -> str:
        return "\n".join(m["text"] for m in self.say(text))


def import_faq(url: str) -> None:
    """Load the demo knowledge base so FAQ questions have answers."""
    kb = ROOT / "nlu_data" / "faq" / "knowledge_base.tsv"
    if kb.exists():
        subprocess.run([str(VENV_BIN / "bankcare"), "faq", "import", str(kb)], check=True,
                       env={**os.environ, "DATABASE_URL": url}, stdout=subprocess.DEVNULL)


def cluster_env(database_url: str, tracker_db: str, lock_db: int = 1) -> dict[str, str]:
    """Environment for several Rasa instances sharing PostgreSQL (trackers) and Redis (locks)."""
    return {
        "RASA_TRACKER_DB_HOST": "127.0.0.1", "RASA_TRACKER_DB_PORT": "5432", "RASA_TRACKER_DB": tracker_db,
        "RASA_TRACKER_DB_USER": "postgres", "RASA_TRACKER_DB_PASSWORD": "",
        "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379", "REDIS_PASSWORD": "", "RASA_LOCK_DB": str(lock_db),
    }


def start_cluster(workdir: Path, database_url: str, tracker_db: str, model: Path, instances: int = 2) -> Stack:
    """The production topology without Docker: N gateways, each with its own Rasa, one actions server,
    all behind the same database, tracker store and lock store."""
    stack = Stack(workdir=workdir, database_url=database_url, env=base_env(database_url))
    stack.env.update(cluster_env(database_url, tracker_db))
    actions_port = free_port()
    stack.actions_url = f"http://127.0.0.1:{actions_port}/webhook"
    stack.env["ACTIONS_URL"] = stack.actions_url
    stack.env["WECHAT_API_BASE"] = "http://127.0.0.1:9"
    gateways: list[str] = []
    try:
        actions = stack.start("actions", [sys.executable, "-m", "actions",
                                          "-p", str(actions_port)])
        rasas = []
        for i in range(instances):
            port = free_port()
            rasas.append((port, stack.start(f"rasa{i + 1}", [
                str(RASA_BIN), "run", "--enable-api", "--auth-token", stack.env["RASA_TOKEN"],
                "-i", "127.0.0.1", "-p", str(port), "--model", str(model),
                "--endpoints", "deploy/rasa/endpoints.yml", "--credentials", "bot/credentials.yml"])))
        for i, (rasa_port, _) in enumerate(rasas):
            gw_port = free_port()
            gw = stack.start(f"gateway{i + 1}", [sys.executable, "-m", "gateway"],
                             {"GATEWAY_PORT": str(gw_port), "RASA_URL": f"http://127.0.0.1:{rasa_port}"})
            gateways.append(f"http://127.0.0.1:{gw_port}")
            wait_http(f"{gateways[-1]}/healthz", 60, gw.proc)
        wait_http(f"http://127.0.0.1:{actions_port}/health", 90, actions.proc)
        for rasa_port, svc in rasas:
            wait_http(f"http://127.0.0.1:{rasa_port}/status?token={stack.env['RASA_TOKEN']}", 300, svc.proc)
    except Exception:
        logs = stack.logs()
        stack.stop_all()
        raise RuntimeError(f"cluster failed to start\n{logs}") from None
    stack.gateway_url = gateways[0]
    stack.env["GATEWAYS"] = " ".join(gateways)
    return stack
