"""`python -m actions`: the rasa-sdk action server with bankcare's redacting logs.

Same arguments as `python -m rasa_sdk` (``--actions actions`` is the default here). The record
hook of ``core.logs`` redacts phones, ID and card numbers in every log record, including
those of handlers rasa-sdk and Sanic install after us.

With one Sanic worker (``ACTION_SERVER_SANIC_WORKERS`` unset or 1, the default) the server runs in
this very process. rasa-sdk's own ``run`` would start Sanic's worker manager: a primary process, a
multiprocessing manager and one worker, each importing the whole action package, for no gain with
a single worker (about 100 MiB more and a third process to keep alive). More workers, gRPC or
auto-reload go through rasa-sdk unchanged.

Rasa is the only legitimate caller: the action server trusts the tracker it is sent (sender id,
verified slots), so anyone else able to post ``/webhook`` could read any customer's accounts. With
``ACTIONS_TOKEN`` set, every request but ``/health`` must carry it as ``?token=`` (Rasa sends it:
``action_endpoint.token`` in bot/endpoints.yml), else 401.
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys

from prometheus_client import CONTENT_TYPE_LATEST
from rasa_sdk import utils
from rasa_sdk.__main__ import main_from_args
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.endpoint import create_app_for_serve, create_argument_parser, create_ssl_config
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.utils import number_of_sanic_workers
from sanic import HTTPResponse, Request, Sanic
from sanic.response import json as json_response

from actions import faq
from core.logs import configure_logging
from core.metrics import get_metrics
from core.settings import Settings, is_loopback_host

log = logging.getLogger(__name__)
# Health checks (compose, the gateway's /readyz) carry no token and learn nothing.
OPEN_PATHS = frozenset({"/health"})


def require_token(app: Sanic, token: str) -> None:
    """Refuse (401) every request but ``OPEN_PATHS`` whose ``?token=`` is not ``token``."""
    expected = token.encode("utf-8")

    async def check_token(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        supplied = request.args.get("token", "").encode("utf-8", "surrogateescape")
        if hmac.compare_digest(supplied, expected):
            return None
        log.warning("action server: call without a valid token refused")
        return json_response({"error": "unauthorized"}, status=401)

    app.register_middleware(check_token, "request")


def serve_metrics(app: Sanic) -> None:
    """``GET /metrics``: this process's counters (binding codes sent and refused, ``core.metrics``).

    Behind ``ACTIONS_TOKEN`` like every other path: the scraper passes ``?token=``."""

    async def metrics(request: Request) -> HTTPResponse:
        return HTTPResponse(get_metrics().render(), content_type=CONTENT_TYPE_LATEST)

    app.add_route(metrics, "/metrics", methods=["GET"], name="bankcare_metrics")


def serve_in_process(args: argparse.Namespace, token: str) -> None:
    """rasa-sdk's ``main_from_args`` + ``endpoint.run``, with Sanic in single-process mode."""
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel, args.logging_config_file
    )
    utils.update_sanic_log_level()
    executor = ActionExecutor()
    executor.register_package(args.actions_module or args.actions)
    app = create_app_for_serve(executor, cors_origins=args.cors, endpoints=args.endpoints)
    serve_metrics(app)
    if token:
        require_token(app, token)
    else:
        log.warning("ACTIONS_TOKEN is not set: the action server answers any local caller")
    ssl = create_ssl_config(args.ssl_certificate, args.ssl_keyfile, args.ssl_password)
    host = os.environ.get("SANIC_HOST", "0.0.0.0")  # noqa: S104 - rasa-sdk's default; compose needs it
    faq.warm_up()
    log.info("action server listening on port %s (one process)", args.port)
    app.prepare(host=host, port=args.port, ssl=ssl, single_process=True, motd=False)
    Sanic.serve_single(primary=app)


def main() -> None:
    settings = Settings.from_env()
    configure_logging("actions", settings.log_format)  # type: ignore[arg-type]
    argv = sys.argv[1:]
    if "--actions" not in argv:
        argv = ["--actions", "actions", *argv]
    args = create_argument_parser().parse_args(argv)
    host = os.environ.get("SANIC_HOST", "0.0.0.0")  # noqa: S104 - rasa-sdk's default
    if not settings.actions_token and not is_loopback_host(host):
        raise SystemExit("动作服务器监听非本机地址时必须设置 ACTIONS_TOKEN (or SANIC_HOST=127.0.0.1)")
    if number_of_sanic_workers() == 1 and not args.grpc and not args.auto_reload:
        serve_in_process(args, settings.actions_token)
    elif settings.actions_token:
        # rasa-sdk builds each worker's app itself, out of reach of the token check.
        raise SystemExit("ACTIONS_TOKEN 只支持单进程动作服务器 (unset ACTION_SERVER_SANIC_WORKERS, or 1)")
    else:
        main_from_args(args)


if __name__ == "__main__":
    main()
