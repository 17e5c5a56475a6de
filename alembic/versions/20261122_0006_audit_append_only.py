"""audit trail append-only in the database: triggers refuse to change, delete or truncate audit events

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 03:15:00

The ORM already refuses (service.audit); these triggers also stop plain SQL, from any client. One change stays
possible, because the schema asks for it: deleting a user sets audit_events.user_id to NULL (ON DELETE SET NULL);
the username written in the event is kept. Nothing else in an event can change, and only for a user who is gone.

On SQLite, a later migration that rebuilds audit_events (batch mode copies the table) drops these triggers and
must create them again.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MESSAGE = "audit_events is append-only"

# The foreign key's action runs after the user's row is deleted, so "the user no longer exists" tells it apart
# from someone unlinking events of a user who is still there.
POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.user_id IS NOT NULL AND NEW.user_id IS NULL
            AND to_jsonb(NEW) - 'user_id' = to_jsonb(OLD) - 'user_id'
            AND NOT EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id)
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION '{MESSAGE}' USING DETAIL = TG_OP || ' refused';
END;
$$
"""
POSTGRESQL_TRIGGERS = (
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events"
    " FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    "CREATE TRIGGER audit_events_append_only_truncate BEFORE TRUNCATE ON audit_events"
    " FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
)

# SQLite has no row-to-JSON: every column but user_id is compared (IS: equal, NULL included).
UNCHANGED = " AND ".join(
    f"NEW.{column} IS OLD.{column}"
    for column in ("id", "at", "username", "action", "object_type", "object_id", "ip", "detail")
)
SQLITE_TRIGGERS = (
    f"""
    CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events FOR EACH ROW
    WHEN NOT (
        OLD.user_id IS NOT NULL AND NEW.user_id IS NULL AND {UNCHANGED}
        AND NOT EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id)
    )
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END
    """,
    f"""
    CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events FOR EACH ROW
    BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END
    """,
)


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        for statement in POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER audit_events_append_only_delete")
        op.execute("DROP TRIGGER audit_events_append_only_update")
