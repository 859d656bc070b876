"""Browser hardening headers on every gateway response (finding 7 of #19).

Set from ``on_response_prepare``, the last moment before headers go out, so static files, error
pages and WebSocket handshakes get them too, not only what a handler returns.

The pages (gateway/static, gateway/console/static) load only their own scripts and style sheets,
with no inline ``<script>``, ``style=`` or event-handler attributes, and talk to their own origin
(fetch and WebSocket), so the policy allows exactly that. SVG charts are built with
``setAttribute``, which CSP does not restrict.
"""

from __future__ import annotations

from aiohttp import web

from core.settings import Settings

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",  # fetch and the same-origin WebSocket (CSP 3 'self' covers ws/wss)
    "font-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",  # no clickjacking: never inside another site's frame
])
HSTS = "max-age=31536000"  # one year; only when the public address is https
# Our own scripts, styles and images may be cached; every other answer (chat messages, the console's
# customer panels and transcripts, work items, login answers with CSRF tokens) may not: a browser's
# disk cache or back button on a shared branch PC would show it to the next person.
CACHEABLE_PREFIXES = ("/static/", "/console/static/")
NO_STORE = "no-store"


def install_security_headers(app: web.Application, settings: Settings) -> None:
    """Add the headers to every response of ``app``; HSTS when ``PUBLIC_URL`` is https;
    ``Cache-Control: no-store`` on everything but the static files."""
    hsts = settings.public_url.lower().startswith("https://")

    async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers["X-Content-Type-Options"] = "nosniff"
        if "Cache-Control" not in headers and not request.path.startswith(CACHEABLE_PREFIXES):
            headers["Cache-Control"] = NO_STORE
        if hsts:
            headers["Strict-Transport-Security"] = HSTS
        if response.content_type == "text/html":
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            headers["X-Frame-Options"] = "DENY"  # frame-ancestors for browsers without CSP 2
            headers["Referrer-Policy"] = "same-origin"

    app.on_response_prepare.append(add_headers)
