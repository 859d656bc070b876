"""verification_expiry: a chat identity's verification lapses (idle timeout and absolute maximum)

Adds to ``channel_identities``: ``verified_until`` (when the verification lapses), ``active_at`` (the
last customer message), ``session_since`` (start of the current visit; the web chat's history shows
nothing older) and ``lapsed_at`` (a lapse the customer has not been told about yet). Existing WeChat
verifications get 30 days from the upgrade (the default idle timeout), so customers are not all asked
again at once; existing web chat verifications get none: they lapse, and the next account question
asks for the code again.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 05:30:00+00:00
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_identities = sa.table(
    "channel_identities",
    sa.column("channel", sa.String(16)),
    sa.column("verified_at", sa.DateTime(timezone=True)),
    sa.column("verified_until", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("channel_identities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verified_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("active_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("session_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("lapsed_at", sa.DateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    if bind.dialect.name == "sqlite":  # stored as naive UTC there, like crm.models.base.UTCDateTime does
        until = until.replace(tzinfo=None)
    bind.execute(
        _identities.update()
        .where(_identities.c.channel == "wechat", _identities.c.verified_at.is_not(None))
        .values(verified_until=until)
    )


def downgrade() -> None:
    op.drop_column("channel_identities", "lapsed_at")
    op.drop_column("channel_identities", "session_since")
    op.drop_column("channel_identities", "active_at")
    op.drop_column("channel_identities", "verified_until")
