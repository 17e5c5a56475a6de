"""report index: the breached targets of a period

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 03:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sla_targets_state_started", "sla_targets", ["state", "started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sla_targets_state_started", table_name="sla_targets")
