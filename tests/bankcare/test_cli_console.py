"""``bankcare console-reset-totp`` clears a second factor so the RM can enrol again."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bankcare.cli import main
from crm.access.console import console_session, open_console_session
from crm.models import AuditEvent, RelationshipManager


def test_reset_clears_the_factor_and_is_audited(
    demo_engine: Engine, migrated_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(demo_engine) as s, s.begin():
        sup = s.scalar(select(RelationshipManager).where(RelationshipManager.role == "supervisor"))
        assert sup is not None
        sup.totp_secret, sup.totp_enabled_at, sup.totp_last_step = "v1:sealed", dt.datetime.now(dt.UTC), 5
        login = sup.login
        now = dt.datetime.now(dt.UTC)
        # Probe: the reset left the account's logged-in browsers (12-hour sessions) open.
        open_console_session(s, sup.id, "h-full", "csrf", now, "full")
        open_console_session(s, sup.id, "h-code", "csrf", now, "code")
        other = s.scalar(select(RelationshipManager).where(RelationshipManager.id != sup.id))
        assert other is not None
        open_console_session(s, other.id, "h-other", "csrf", now, "full")
    monkeypatch.setenv("DATABASE_URL", migrated_url)
    assert main(["console-reset-totp", login]) == 0
    assert "已清除" in capsys.readouterr().out
    with Session(demo_engine) as s:
        sup = s.scalar(select(RelationshipManager).where(RelationshipManager.login == login))
        assert sup is not None and sup.totp_secret is None and sup.totp_enabled_at is None
        assert s.scalar(select(AuditEvent).where(AuditEvent.action == "console_totp_reset")) is not None
        later = dt.datetime.now(dt.UTC)
        assert console_session(s, "h-full", later) is None and console_session(s, "h-code", later) is None
        assert console_session(s, "h-other", later) is not None  # nobody else is logged out
    assert main(["console-reset-totp", "nobody"]) == 1
