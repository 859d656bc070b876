"""appointment_window: an appointment's time window is a column, not part of the service text

Until now the bot kept the part of the day the customer chose inside ``appointments.service``
("开户（上午08:30-11:30）", "开户（09:00-10:00）"). This adds ``appointments.time_window`` (上午 / 下午 /
"09:00-10:00", NULL = any time that day), moves the window of existing rows into it and leaves the
service alone ("开户"). A bracket holding the branch's whole opening hours (the old fallback when the
hour asked for was outside them) carries no window: it is dropped and the window stays NULL.
Also ``branches.window_capacity``: an optional limit per half day next to the per-day
``appointment_capacity``.

Downgrade writes the window back into the service text ("开户（上午）", "开户（09:00-10:00）"), which
the earlier code reads the same way, and drops both columns.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 05:00:00+00:00
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# "开户（上午08:30-11:30）", "开户（下午）", "开户（09:00-10:00）"; the closing bracket may have been cut off
# by the old 32-character limit, in which case a 上午/下午 is still recognised.
_WINDOW_IN_TEXT = re.compile(r"^(?P<service>.+?)（(?P<half>上午|下午)?(?P<times>[0-9:\-]*)(?P<close>）)?$")
_TIMES = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_appointments = sa.table(
    "appointments",
    sa.column("id", sa.Integer()),
    sa.column("service", sa.String(32)),
    sa.column("time_window", sa.String(16)),
)


def split_service(text: str) -> tuple[str, str | None] | None:
    """(service, window) for a service text that carries a window; None when it carries none."""
    match = _WINDOW_IN_TEXT.match(text or "")
    if match is None:
        return None
    service, half, times = match.group("service").strip(), match.group("half"), match.group("times")
    if not match.group("close"):  # cut off: only a whole 上午/下午 is worth keeping
        return (service, half) if half else None
    if half:
        return service, half
    clock = _TIMES.match(times)
    if clock is None:
        return None
    h1, m1, h2, m2 = (int(part) for part in clock.groups())
    if h2 * 60 + m2 - (h1 * 60 + m1) > 60:  # the whole day's hours, not an hour the customer chose
        return service, None
    return service, f"{h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"


def upgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_window", sa.String(length=16), nullable=True))
    with op.batch_alter_table("branches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("window_capacity", sa.Integer(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_appointments.c.id, _appointments.c.service).where(_appointments.c.service.like("%（%"))
    ).all()
    changes = []
    for row_id, text in rows:
        split = split_service(text)
        if split is not None:
            changes.append({"row_id": row_id, "service": split[0], "time_window": split[1]})
    if changes:
        bind.execute(
            _appointments.update()
            .where(_appointments.c.id == sa.bindparam("row_id"))
            .values(service=sa.bindparam("service"), time_window=sa.bindparam("time_window")),
            changes,
        )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_appointments.c.id, _appointments.c.service, _appointments.c.time_window).where(
            _appointments.c.time_window.is_not(None)
        )
    ).all()
    changes = [
        {"row_id": row_id, "service": f"{service}（{window}）"[:32]} for row_id, service, window in rows
    ]
    if changes:
        bind.execute(
            _appointments.update()
            .where(_appointments.c.id == sa.bindparam("row_id"))
            .values(service=sa.bindparam("service")),
            changes,
        )
    # Plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35 has it): batch mode would copy ``branches`` into a new
    # table, which SQLite refuses while customers and RMs point at it with foreign keys on.
    op.drop_column("branches", "window_capacity")
    op.drop_column("appointments", "time_window")
