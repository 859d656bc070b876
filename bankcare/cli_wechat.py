"""``bankcare wechat-sandbox``: run the local WeChat API sandbox."""

from __future__ import annotations

import argparse

from aiohttp import web


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``wechat-sandbox`` subcommand to the ``bankcare`` CLI."""
    parser = subparsers.add_parser(
        "wechat-sandbox",
        help="本地微信接口沙箱 (local WeChat API sandbox; nothing leaves the machine)",
        description="Serve /cgi-bin/token, custom and template send with WeChat's rules, "
        "and a page to play a WeChat user against the gateway.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--gateway", default="http://127.0.0.1:8080", help="gateway base URL (its /wechat)")
    parser.set_defaults(func=run_sandbox)


def run_sandbox(args: argparse.Namespace) -> int:
    """Run the sandbox until interrupted."""
    from gateway.wechat.sandbox import SandboxSettings, create_sandbox_app

    settings = SandboxSettings.from_env(gateway_url=args.gateway)
    print(f"微信沙箱: http://{args.host}:{args.port}/sandbox  (网关 {settings.gateway_url})")
    web.run_app(create_sandbox_app(settings), host=args.host, port=args.port, print=None)
    return 0
