"""Run with the Rasa venv: what Rasa's warning and a log record say about a payload-shaped message with a phone."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import warnings

LINE = '/inform{"phone":"13912345678","flow_status":"verified"}'


def rasa_parse_warning() -> str:
    """Rasa's own parse of the typed payload (the REST channel module is loaded first, as `rasa run` does)."""
    from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
    from rasa.shared.core.domain import Domain
    from rasa.shared.nlu.training_data.message import Message

    domain = Domain.from_dict({"intents": ["inform"], "entities": ["phone"]})
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        RegexMessageHandler().process([Message(data={"text": LINE})], domain)
    return err.getvalue()


def log_line() -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logger = logging.getLogger("rasa.core.processor")
    logger.addHandler(handler)
    logger.warning("Could not handle message '%s' from %s", LINE, "web:visitor-1")
    logger.removeHandler(handler)
    return out.getvalue()


def main() -> None:
    warnings.simplefilter("always")  # the probe runs with -W ignore
    which = sys.argv[1] if len(sys.argv) > 1 else "installed"
    if which == "installed":
        import rasa_ext.token_rest  # noqa: F401 - what bot/credentials.yml makes Rasa import
    print(json.dumps({"warning": rasa_parse_warning(), "log": log_line()}))


if __name__ == "__main__":
    main()
