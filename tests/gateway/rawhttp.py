"""A raw HTTP/1.1 request over a socket, for bytes aiohttp's client refuses to send (non-UTF-8 headers, raw paths)."""

from __future__ import annotations

import asyncio
import base64
import os

from aiohttp.test_utils import TestClient

UPGRADE = [
    (b"Connection", b"Upgrade"),
    (b"Upgrade", b"websocket"),
    (b"Sec-WebSocket-Version", b"13"),
]


async def raw_request(
    client: TestClient,
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
    timeout_s: float = 20.0,
    upgrade: bool = False,
) -> tuple[int, bytes]:
    """Send one request exactly as given and return (status, body); the connection is closed after it.

    With ``upgrade`` the request asks for a WebSocket; a ``101`` is returned at once (the socket is
    then closed, which ends the server's handler), anything else with its body.
    """
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = [method.encode() + b" " + target + b" HTTP/1.1", f"Host: {host}:{port}".encode()]
        head += [name + b": " + value for name, value in headers or []]
        if upgrade:
            head += [name + b": " + value for name, value in UPGRADE]
            head.append(b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)))
        else:
            head.append(b"Connection: close")
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}".encode())
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        return await asyncio.wait_for(_read_response(reader, method), timeout_s)
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[int, bytes]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return 0, b""  # the server closed the connection without an answer
    status_line, *lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}
    if status == 101 or method == "HEAD" or status in (204, 304):
        return status, b""
    if "content-length" in fields:
        return status, await reader.readexactly(int(fields["content-length"]))
    if fields.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, body
            body += chunk[:-2]
    return status, await reader.read()
