"""`python -m actions`: the rasa-sdk action server with bankcare's redacting logs.

Same arguments as `python -m rasa_sdk` (``--actions actions`` is the default here). The record
hook of ``core.logs`` redacts phones, ID and card numbers in every log record, including
those of handlers rasa-sdk and Sanic install after us.

With one Sanic worker (``ACTION_SERVER_SANIC_WORKERS`` unset or 1, the default) the server runs in
this very process. rasa-sdk's own ``run`` would start Sanic's worker manager: a primary process, a
multiprocessing manager and one worker, each importing the whole action package, for no gain with
a single worker (about 100 MiB more and a third process to keep alive). More workers, gRPC or
auto-reload go through rasa-sdk unchanged.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from rasa_sdk import utils
from rasa_sdk.__main__ import main_from_args
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.endpoint import create_app_for_serve, create_argument_parser, create_ssl_config
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.utils import number_of_sanic_workers
from sanic import Sanic

from actions import faq
from core.logs import configure_logging
from core.settings import Settings

log = logging.getLogger(__name__)


def serve_in_process(args: argparse.Namespace) -> None:
    """rasa-sdk's ``main_from_args`` + ``endpoint.run``, with Sanic in single-process mode."""
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel, args.logging_config_file
    )
    utils.update_sanic_log_level()
    executor = ActionExecutor()
    executor.register_package(args.actions_module or args.actions)
    app = create_app_for_serve(executor, cors_origins=args.cors, endpoints=args.endpoints)
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
    if number_of_sanic_workers() == 1 and not args.grpc and not args.auto_reload:
        serve_in_process(args)
    else:
        main_from_args(args)


if __name__ == "__main__":
    main()
