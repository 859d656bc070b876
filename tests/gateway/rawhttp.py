"""A raw HTTP/1.1 request over a socket, for bytes aiohttp's client refuses to send (non-UTF-8 headers)."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestClient


async def raw_request(
    client: TestClient,
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
    timeout_s: float = 20.0,
) -> tuple[int, bytes]:
    """Send one request exactly as given and return (status, body); the connection is closed after it."""
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = [method.encode() + b" " + target + b" HTTP/1.1", f"Host: {host}:{port}".encode()]
        head += [name + b": " + value for name, value in headers or []]
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}".encode())
        head.append(b"Connection: close")
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout_s)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    parts = status_line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, rest.partition(b"\r\n\r\n")[2]
