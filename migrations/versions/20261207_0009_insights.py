"""insights: unanswered-question pool, reviews and leads (#23)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 02:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "insight_cursors",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_insight_cursors")),
    )
    op.create_table(
        "insight_clusters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("suggested_question", sa.String(length=500), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("previous_size", sa.Integer(), nullable=False),
        sa.Column("branches", sa.JSON(), nullable=False),
        sa.Column("segments", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("knowledge_point_id", sa.Integer(), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["knowledge_point_id"],
            ["knowledge_point.id"],
            name=op.f("fk_insight_clusters_knowledge_point_id_knowledge_point"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insight_clusters")),
    )
    with op.batch_alter_table("insight_clusters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_insight_clusters_status"), ["status"], unique=False)

    op.create_table(
        "insight_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=200), nullable=False),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("usual", sa.Float(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"], name=op.f("fk_insight_alerts_branch_id_branches")),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["insight_clusters.id"], name=op.f("fk_insight_alerts_cluster_id_insight_clusters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insight_alerts")),
        sa.UniqueConstraint("branch_id", "topic", "day", name=op.f("uq_insight_alerts_branch_id_topic_day")),
    )
    with op.batch_alter_table("insight_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_insight_alerts_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_insight_alerts_day"), ["day"], unique=False)

    op.create_table(
        "insight_leads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("product", sa.String(length=16), nullable=False),
        sa.Column("trigger_words", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("rm_id", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("outcome_by", sa.String(length=64), nullable=True),
        sa.Column("outcome_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"], name=op.f("fk_insight_leads_branch_id_branches")),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("fk_insight_leads_conversation_id_conversations")
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_insight_leads_customer_id_customers")),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_insight_leads_message_id_messages")),
        sa.ForeignKeyConstraint(
            ["rm_id"], ["relationship_managers.id"], name=op.f("fk_insight_leads_rm_id_relationship_managers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insight_leads")),
        sa.UniqueConstraint("message_id", name=op.f("uq_insight_leads_message_id")),
    )
    with op.batch_alter_table("insight_leads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_insight_leads_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_insight_leads_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_insight_leads_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_insight_leads_product"), ["product"], unique=False)
        batch_op.create_index(batch_op.f("ix_insight_leads_rm_id"), ["rm_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_insight_leads_status"), ["status"], unique=False)

    op.create_table(
        "insight_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("segment", sa.String(length=16), nullable=True),
        sa.Column("intent", sa.String(length=48), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("rm_reply", sa.Text(), nullable=True),
        sa.Column("cluster_id", sa.Integer(), nullable=True),
        sa.Column("review_status", sa.String(length=16), nullable=False),
        sa.Column("reviewed_intent", sa.String(length=48), nullable=True),
        sa.Column("reviewer", sa.String(length=64), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"], name=op.f("fk_insight_questions_branch_id_branches")),
        sa.ForeignKeyConstraint(
            ["cluster_id"], ["insight_clusters.id"], name=op.f("fk_insight_questions_cluster_id_insight_clusters")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("fk_insight_questions_conversation_id_conversations")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_insight_questions_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name=op.f("fk_insight_questions_message_id_messages")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insight_questions")),
        sa.UniqueConstraint("message_id", name=op.f("uq_insight_questions_message_id")),
    )
    with op.batch_alter_table("insight_questions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_insight_questions_branch_id"), ["branch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_insight_questions_cluster_id"), ["cluster_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_insight_questions_conversation_id"), ["conversation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_insight_questions_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_insight_questions_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_insight_questions_review_status"), ["review_status"], unique=False)
        batch_op.create_index(batch_op.f("ix_insight_questions_source"), ["source"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("insight_questions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_insight_questions_source"))
        batch_op.drop_index(batch_op.f("ix_insight_questions_review_status"))
        batch_op.drop_index(batch_op.f("ix_insight_questions_customer_id"))
        batch_op.drop_index(batch_op.f("ix_insight_questions_created_at"))
        batch_op.drop_index(batch_op.f("ix_insight_questions_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_insight_questions_cluster_id"))
        batch_op.drop_index(batch_op.f("ix_insight_questions_branch_id"))

    op.drop_table("insight_questions")
    with op.batch_alter_table("insight_leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_insight_leads_status"))
        batch_op.drop_index(batch_op.f("ix_insight_leads_rm_id"))
        batch_op.drop_index(batch_op.f("ix_insight_leads_product"))
        batch_op.drop_index(batch_op.f("ix_insight_leads_customer_id"))
        batch_op.drop_index(batch_op.f("ix_insight_leads_created_at"))
        batch_op.drop_index(batch_op.f("ix_insight_leads_branch_id"))

    op.drop_table("insight_leads")
    with op.batch_alter_table("insight_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_insight_alerts_day"))
        batch_op.drop_index(batch_op.f("ix_insight_alerts_branch_id"))

    op.drop_table("insight_alerts")
    with op.batch_alter_table("insight_clusters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_insight_clusters_status"))

    op.drop_table("insight_clusters")
    op.drop_table("insight_cursors")
