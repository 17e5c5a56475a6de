"""sla targets and response facts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 23:39:56.970781
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sla_targets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("first_response", "next_response", "resolution", name="targetkind", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("clock", sa.Enum("business", "calendar", name="clock", native_enum=False, length=40), nullable=False),
        sa.Column("target_minutes", sa.Integer(), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("due_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("at_risk_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("running", "paused", "at_risk", "met", "breached", name="slastate", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("paused_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("completed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sla_targets", schema=None) as batch_op:
        batch_op.create_index("ix_sla_targets_state_at_risk", ["state", "at_risk_at"], unique=False)
        batch_op.create_index("ix_sla_targets_state_due", ["state", "due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sla_targets_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "response_facts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum("first_response", "next_response", "resolution", name="targetkind", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("completed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("calendar_minutes", sa.Float(), nullable=False),
        sa.Column("business_minutes", sa.Float(), nullable=False),
        sa.Column("within_target", sa.Boolean(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "service_question",
                "public_space_report",
                "communication",
                name="category",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column(
            "channel",
            sa.Enum(
                "x", "facebook", "instagram", "whatsapp", "web", "email", name="channel", native_enum=False, length=40
            ),
            nullable=False,
        ),
        sa.Column(
            "priority",
            sa.Enum("normal", "high", "urgent", name="priority", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["agent_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["department_id"], ["departments.id"], ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["target_id"], ["sla_targets.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("response_facts", schema=None) as batch_op:
        batch_op.create_index("ix_response_facts_department_started", ["department_id", "started_at"], unique=False)
        batch_op.create_index("ix_response_facts_kind_started", ["kind", "started_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_response_facts_ticket_id"), ["ticket_id"], unique=False)

    # Existing tickets: sent_at is the opening message's time; reopen counts start at zero.
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("next_response_due", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("reopen_count", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE tickets SET sent_at = opened_at")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.alter_column("sent_at", existing_type=sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False)
        batch_op.alter_column("reopen_count", existing_type=sa.Integer(), server_default=None)
        batch_op.create_index("ix_tickets_sent_at", ["sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_sent_at")
        batch_op.drop_column("reopen_count")
        batch_op.drop_column("next_response_due")
        batch_op.drop_column("sent_at")

    with op.batch_alter_table("response_facts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_response_facts_ticket_id"))
        batch_op.drop_index("ix_response_facts_kind_started")
        batch_op.drop_index("ix_response_facts_department_started")

    op.drop_table("response_facts")
    with op.batch_alter_table("sla_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_targets_ticket_id"))
        batch_op.drop_index("ix_sla_targets_state_due")
        batch_op.drop_index("ix_sla_targets_state_at_risk")

    op.drop_table("sla_targets")
