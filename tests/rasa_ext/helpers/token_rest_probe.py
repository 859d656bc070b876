"""Run with the Rasa venv: load bot/credentials.yml as `rasa run` does and try the REST channel's token check."""

from __future__ import annotations

import asyncio
import json
import os
from types import SimpleNamespace

import rasa.core.run
from rasa.shared.utils.io import read_config_file
from sanic.exceptions import Unauthorized


async def verdict(channel: object, args: dict[str, str]) -> str:
    request = SimpleNamespace(args=args, json={"sender": "wechat:oVictim", "message": "查余额"})
    try:
        return str(await channel._extract_sender(request))  # type: ignore[attr-defined]
    except Unauthorized as exc:
        return f"{exc.status_code}"


async def main() -> None:
    credentials = read_config_file("bot/credentials.yml")
    out: dict[str, object] = {}
    for token in ("", "gateway-only-token"):
        os.environ["RASA_TOKEN"] = token
        (name, conf), = credentials.items()
        channel = rasa.core.run._create_single_channel(name, conf)
        out[token or "none"] = {
            "name": channel.name(),
            "prefix": channel.url_prefix(),
            "missing": await verdict(channel, {}),
            "wrong": await verdict(channel, {"token": "gateway-only-tokeN"}),
            "right": await verdict(channel, {"token": "gateway-only-token"}),
        }
    print(json.dumps(out))


asyncio.run(main())
