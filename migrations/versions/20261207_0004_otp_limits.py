"""otp_limits: SMS code send/verify counters per phone, identity and address; hashed codes (#19)

``otp_guards`` replaces ``binding_locks`` (per identity only) with one counter row per phone,
identity or client address; binding challenges remember a keyed hash of their phone, so wrong
codes lock the phone across identities; tickets keep a callback number apart from their text.
Locks in ``binding_locks`` last 30 minutes at most, so they are not carried over.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 02:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "otp_guards",
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("last_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hour_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hour_sent", sa.Integer(), nullable=False),
        sa.Column("day_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("day_sent", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", "subject", name=op.f("pk_otp_guards")),
    )
    with op.batch_alter_table("binding_challenges", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_key", sa.String(length=64), nullable=True))
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("callback_phone", sa.String(length=20), nullable=True))
    op.drop_table("binding_locks")


def downgrade() -> None:
    op.create_table(
        "binding_locks",
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["identity_id"], ["channel_identities.id"], name=op.f("fk_binding_locks_identity_id_channel_identities")
        ),
        sa.PrimaryKeyConstraint("identity_id", name=op.f("pk_binding_locks")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("callback_phone")
    with op.batch_alter_table("binding_challenges", schema=None) as batch_op:
        batch_op.drop_column("phone_key")
    op.drop_table("otp_guards")
