"""claim index: the tickets that may be waiting, in deadline order per department

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 03:10:00

On a large existing PostgreSQL table, build the index beforehand with CREATE INDEX CONCURRENTLY (same name and
definition); this migration then only records it.
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As models.ticket.MAY_BE_WAITING at the time of this migration.
MAY_BE_WAITING = "status IN ('new', 'reopened', 'open')"


def upgrade() -> None:
    bind = op.get_bind()
    exists = (
        bind.dialect.name == "postgresql"
        and bind.execute(sa.text("SELECT to_regclass('ix_tickets_waiting') IS NOT NULL")).scalar()
    )
    if not exists:
        op.create_index(
            "ix_tickets_waiting",
            "tickets",
            ["department_id", "next_due"],
            unique=False,
            postgresql_where=sa.text(MAY_BE_WAITING),
            sqlite_where=sa.text(MAY_BE_WAITING),
        )


def downgrade() -> None:
    op.drop_index("ix_tickets_waiting", table_name="tickets")
