"""Handoff settings, read once at start-up (all optional; the defaults suit a small rural bank)."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class HandoffSettings:
    """Timeouts in seconds; working hours as "HH:MM" in the bank's time zone.

    Environment variables: ``HANDOFF_<FIELD>`` in upper case, e.g. ``HANDOFF_RM_REPLY_TIMEOUT_S=180``.
    """

    rm_reply_timeout_s: float = 300.0  # an RM who leaves a customer waiting this long loses the conversation
    presence_timeout_s: float = 60.0  # no console heartbeat for this long = offline
    leave_message_after_s: float = 180.0  # queued this long: offer to leave a message
    preferred_rm_wait_s: float = (
        120.0  # a VIP waits this long for their own RM, then the branch may take over
    )
    branch_wait_s: float = 180.0  # then any online RM may take over
    seconds_per_position: float = 180.0  # expected handling time per conversation ahead, per online RM
    sweep_interval_s: float = 5.0
    work_start: str = "08:30"
    work_end: str = "17:30"
    timezone: str = "Asia/Shanghai"
    fallbacks_before_handoff: int = 2

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HandoffSettings:
        """Build from ``HANDOFF_*`` variables; unknown or empty values keep the default."""
        env = os.environ if env is None else env
        kwargs: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"HANDOFF_{f.name.upper()}")
            if not raw:
                continue
            if f.type in ("float", float):
                kwargs[f.name] = float(raw)
            elif f.type in ("int", int):
                kwargs[f.name] = int(raw)
            else:
                kwargs[f.name] = raw
        return cls(**kwargs)  # type: ignore[arg-type]

    def hours(self) -> tuple[dt.time, dt.time]:
        return dt.time.fromisoformat(self.work_start), dt.time.fromisoformat(self.work_end)
