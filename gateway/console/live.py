"""The console's WebSocket: the live conversation list and the open transcript, plus presence.

Like the web chat, it polls the database: correct with several gateway processes and after a
reconnect. The connection itself is the RM's heartbeat; the sweeper marks RMs offline whose
heartbeat stopped (closed laptop, lost network) and re-queues their conversations.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy.orm import Session

from crm.access.presence import rm_by_id, touch_presence
from crm.access.typing import is_recent, mark_rm_typing
from crm.access.visibility import visible
from crm.errors import NotFound
from crm.models import utcnow
from gateway.console import panel
from gateway.console.auth import current_user, json_error
from gateway.db import run_db
from gateway.validation import bounded_int

POLL_S = 1.0


def _rm_typing(session: Session, conv_id: int, rm_id: int) -> None:
    mark_rm_typing(session, conv_id, rm_id, utcnow())


async def live(request: web.Request) -> web.WebSocketResponse:
    user = await current_user(request)
    origin = request.headers.get("Origin")
    if origin is not None and origin.split("://", 1)[-1] != request.host:
        # Cookies ride along on cross-site WebSocket handshakes: refuse foreign pages.
        raise json_error(403, "origin", "来源不被允许。")
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    watch: dict[str, int] = {"conv": 0, "after": 0}

    async def reader() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                data = json.loads(msg.data)
            except (ValueError, RecursionError):
                continue
            if isinstance(data, dict) and "typing" in data:
                # The RM is typing a reply: the customer's web chat says "对方正在输入…" (#21).
                typing_id = bounded_int(data["typing"] or 0, lo=1)
                if typing_id is not None:
                    await run_db(request, functools.partial(_rm_typing, conv_id=typing_id, rm_id=user.rm_id))
                continue
            if not isinstance(data, dict) or "watch" not in data:
                continue
            # Ids a database column can hold, or the message is ignored (a huge one used to end the socket).
            conv_id, after = bounded_int(data["watch"] or 0), bounded_int(data.get("after") or 0)
            if conv_id is not None and after is not None:
                watch["conv"], watch["after"] = conv_id, after

    def snapshot(session: Session, conv_id: int, after: int) -> dict[str, Any]:
        now = utcnow()
        touch_presence(session, user.rm_id, now)
        out: dict[str, Any] = {"type": "snapshot", "conversations": panel.conversation_list(session, user.rm_id)}
        if conv_id:
            try:
                rm = rm_by_id(session, user.rm_id)
                conv, hs = visible(session, rm, conv_id)
                out["watch"] = {
                    "id": conv_id,
                    "messages": panel.transcript(session, conv_id, after),
                    "conversation": panel.row(session, conv, hs, rm.id, now),
                    "deliveries": panel.delivery_states(session, conv_id),
                    "customer_typing": is_recent(conv.customer_typing_at, now),
                }
            except NotFound:
                out["watch"] = {"id": conv_id, "gone": True}
        return out

    read_task = asyncio.create_task(reader())
    last_list, last_deliveries = "", ""
    try:
        while not ws.closed:
            conv_id, after = watch["conv"], watch["after"]
            data = await run_db(request, functools.partial(snapshot, conv_id=conv_id, after=after))
            listing = json.dumps(data["conversations"], ensure_ascii=False, sort_keys=True)
            watched = data.get("watch")
            deliveries = json.dumps(
                [conv_id, (watched or {}).get("deliveries"), (watched or {}).get("customer_typing")], sort_keys=True
            )
            if (
                listing != last_list
                or deliveries != last_deliveries
                or (watched and (watched.get("messages") or watched.get("gone")))
            ):
                await ws.send_json(data)
                last_list, last_deliveries = listing, deliveries
                if watched and watched.get("messages") and watch["conv"] == conv_id:
                    watch["after"] = max(watch["after"], max(m["id"] for m in watched["messages"]))
            await asyncio.sleep(POLL_S)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        read_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await read_task
    return ws
