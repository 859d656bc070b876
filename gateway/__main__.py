"""`python -m gateway`: run the gateway with settings from the environment."""

from __future__ import annotations

import logging

from aiohttp import web

from core.logs import configure_logging
from core.settings import ConfigError, Settings
from gateway.app import create_app

log = logging.getLogger("gateway")


def main() -> None:
    settings = Settings.from_env()
    configure_logging("gateway", settings.log_format)  # type: ignore[arg-type]
    try:
        settings.refuse_development_secrets_when_exposed()
    except ConfigError as exc:
        raise SystemExit(f"网关拒绝启动 (gateway refuses to start): {exc}") from None
    web.run_app(
        create_app(settings), host=settings.gateway_host, port=settings.gateway_port, access_log=None,
        print=lambda _msg: log.info("网关已启动 gateway listening on %s:%s", settings.gateway_host,
                                    settings.gateway_port),
    )


if __name__ == "__main__":
    main()
