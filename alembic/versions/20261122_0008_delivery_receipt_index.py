"""delivery receipt index: a channel's receipt finds its delivery by the platform's id

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 03:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_deliveries_target_remote_id", "deliveries", ["target", "remote_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_deliveries_target_remote_id", table_name="deliveries")
