"""`python -m actions`: the rasa-sdk action server with bankcare's redacting logs.

Same arguments as `python -m rasa_sdk` (``--actions actions`` is the default here). The record
hook of ``bankcare.logs`` redacts phones, ID and card numbers in every log record, including
those of handlers rasa-sdk and Sanic install after us.
"""

from __future__ import annotations

import sys

from rasa_sdk.__main__ import main_from_args
from rasa_sdk.endpoint import create_argument_parser

from bankcare.logs import configure_logging
from bankcare.settings import Settings


def main() -> None:
    settings = Settings.from_env()
    configure_logging("actions", settings.log_format)  # type: ignore[arg-type]
    argv = sys.argv[1:]
    if "--actions" not in argv:
        argv = ["--actions", "actions", *argv]
    main_from_args(create_argument_parser().parse_args(argv))


if __name__ == "__main__":
    main()
