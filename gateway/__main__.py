"""`python -m gateway`: run the gateway with settings from the environment."""

from __future__ import annotations

import logging

from aiohttp import web

from bankcare.settings import Settings
from gateway.app import create_app


def main() -> None:
    settings = Settings.from_env()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    web.run_app(create_app(settings), host=settings.gateway_host, port=settings.gateway_port,
                print=lambda _msg: print(f"网关已启动 gateway listening on http://{settings.gateway_host}:"
                                         f"{settings.gateway_port}", flush=True))


if __name__ == "__main__":
    main()
