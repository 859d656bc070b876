"""wechat_replay: (timestamp, nonce) pairs seen within the validity window (#19)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 02:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wechat_replay",
        sa.Column("pair_hash", sa.String(length=64), nullable=False),
        sa.Column("message_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pair_hash", name=op.f("pk_wechat_replay")),
    )
    with op.batch_alter_table("wechat_replay", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wechat_replay_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("wechat_replay", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wechat_replay_expires_at"))
    op.drop_table("wechat_replay")
