"""``bankcare console-reset-totp``: remove an RM's second factor (lost phone, or SESSION_SECRET rotated).

Every console session of that account ends at once (the lost phone's finder may hold a logged-in
browser too); a supervisor must enrol again at the next console login, an RM logs in with the password.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.settings import Settings


def run_reset_totp(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from core.db import make_engine, make_sessionmaker, session_scope
    from crm.access.console import reset_totp
    from crm.models import AuditEvent, RelationshipManager

    engine = make_engine(Settings.from_env().database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            rm = session.scalar(select(RelationshipManager).where(RelationshipManager.login == args.login))
            if rm is None:
                print(f"没有登录名为 {args.login} 的客户经理或主管。", file=sys.stderr)
                return 1
            ended = reset_totp(session, rm.id)
            detail = {"login": rm.login, "sessions_ended": ended}
            session.add(AuditEvent(actor="cli", action="console_totp_reset", detail=detail))
            name = rm.name
    finally:
        engine.dispose()
    print(f"已清除 {name}（{args.login}）的两步验证，并退出其所有已登录的工作台；下次登录时需重新设置。")
    return 0


def register(subparsers: Any) -> None:
    """Add ``console-reset-totp`` to the ``bankcare`` CLI."""
    reset = subparsers.add_parser(
        "console-reset-totp",
        help="清除工作台账号的两步验证（手机丢失、更换 SESSION_SECRET 后）(reset an RM's TOTP second factor)",
    )
    reset.add_argument("login", help="工作台登录名，例如 sup004")
    reset.set_defaults(func=run_reset_totp)
