"""report roll-ups: monthly counts and response-time histograms, kept by triggers on PostgreSQL

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 08:10:00

A summary over years of tickets read every ticket, target and fact, and sorted a million values for each
percentile (seconds on PostgreSQL). The roll-ups hold the same counts per month, department, category and channel,
and the response times as histograms with buckets 2% wide (service.rollups).

Triggers never update a roll-up row themselves: every ticket insert would then wait on the same row as every other
one in its month, until commit, and transactions that touch several rows could deadlock. They append change rows
instead; the worker folds those in (service.rollups.compact) and reports read both in one statement.

What counts:
- a ticket: once, in the month (Europe/Amsterdam) the citizen wrote, under its current department, category and
  channel; reopened and "ever resolved" (resolved or closed now, or reopened since) as they are now;
- a breached target: in the month its clock started, under its ticket's current department, category and channel
  (a ticket that moves takes its breaches along); first responses breached and still unanswered apart;
- a response fact: under its own month, department, category and channel, as recorded.

A ticket being deleted takes its breaches away BEFORE the delete; the targets that cascade after it find no ticket
and add nothing. The existing rows are counted into the change tables at upgrade, and folded in by the worker.

SQLite gets the tables (the schema is one for both) but no triggers: reports there read the rows themselves.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = ("month", "department_id", "category", "channel")
COUNTERS = (
    "tickets",
    "reopened",
    "ever_resolved",
    "first_responses",
    "first_responses_on_time",
    "next_responses",
    "next_responses_on_time",
    "resolutions",
    "resolutions_on_time",
    "first_response_breaches",
    "next_response_breaches",
    "resolution_breaches",
    "first_response_breaches_unanswered",
)

# Buckets of service.rollups: 0 for no time at all, 1 up to 6 seconds, then each 2% wider than the one before.
FUNCTIONS = (
    """
    CREATE FUNCTION report_month(at timestamptz) RETURNS date LANGUAGE sql STABLE
    AS $$ SELECT date_trunc('month', at AT TIME ZONE 'Europe/Amsterdam')::date $$
    """,
    """
    CREATE FUNCTION report_bucket(minutes double precision) RETURNS smallint LANGUAGE sql IMMUTABLE
    AS $$ SELECT (CASE WHEN minutes <= 0 THEN 0 WHEN minutes <= 0.1 THEN 1
                       ELSE 1 + ceil(ln(minutes / 0.1) / ln(1.02)) END)::smallint $$
    """,
    # What a ticket counts for, times sign (1 or -1).
    """
    CREATE FUNCTION report_ticket(t tickets, sign integer) RETURNS void LANGUAGE sql AS $$
        INSERT INTO report_totals_changes (month, department_id, category, channel, tickets, reopened, ever_resolved)
        VALUES (report_month(t.sent_at), t.department_id, t.category, t.channel, sign,
                sign * (t.reopen_count > 0)::int,
                sign * (t.status IN ('resolved', 'closed') OR t.reopen_count > 0)::int)
    $$
    """,
    # The breached targets of a ticket, counted (sign 1) or taken away (-1) under the given department, category
    # and channel.
    """
    CREATE FUNCTION report_ticket_breaches(ticket integer, department integer, cat varchar, chan varchar,
                                           sign integer) RETURNS void LANGUAGE sql AS $$
        INSERT INTO report_totals_changes (month, department_id, category, channel, first_response_breaches,
                                           next_response_breaches, resolution_breaches,
                                           first_response_breaches_unanswered)
        SELECT report_month(started_at), department, cat, chan, sign * (kind = 'first_response')::int,
               sign * (kind = 'next_response')::int, sign * (kind = 'resolution')::int,
               sign * (kind = 'first_response' AND completed_at IS NULL)::int
        FROM sla_targets WHERE ticket_id = ticket AND state = 'breached'
    $$
    """,
    """
    CREATE FUNCTION report_tickets_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            PERFORM report_ticket(OLD, -1);
            IF (OLD.department_id, OLD.category, OLD.channel)
                    IS DISTINCT FROM (NEW.department_id, NEW.category, NEW.channel) THEN
                PERFORM report_ticket_breaches(NEW.id, OLD.department_id, OLD.category, OLD.channel, -1);
                PERFORM report_ticket_breaches(NEW.id, NEW.department_id, NEW.category, NEW.channel, 1);
            END IF;
        END IF;
        PERFORM report_ticket(NEW, 1);
        RETURN NULL;
    END;
    $$
    """,
    """
    CREATE FUNCTION report_ticket_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM report_ticket(OLD, -1);
        PERFORM report_ticket_breaches(OLD.id, OLD.department_id, OLD.category, OLD.channel, -1);
        RETURN OLD;
    END;
    $$
    """,
    """
    CREATE FUNCTION report_target(s sla_targets, sign integer) RETURNS void LANGUAGE sql AS $$
        INSERT INTO report_totals_changes (month, department_id, category, channel, first_response_breaches,
                                           next_response_breaches, resolution_breaches,
                                           first_response_breaches_unanswered)
        SELECT report_month(s.started_at), t.department_id, t.category, t.channel,
               sign * (s.kind = 'first_response')::int, sign * (s.kind = 'next_response')::int,
               sign * (s.kind = 'resolution')::int,
               sign * (s.kind = 'first_response' AND s.completed_at IS NULL)::int
        FROM tickets t WHERE t.id = s.ticket_id AND s.state = 'breached'
    $$
    """,
    # No ticket found: it is being deleted, and its BEFORE DELETE trigger has taken its breaches away.
    """
    CREATE FUNCTION report_targets_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM report_target(OLD, -1);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            PERFORM report_target(NEW, 1);
        END IF;
        RETURN NULL;
    END;
    $$
    """,
    """
    CREATE FUNCTION report_fact(f response_facts, sign integer) RETURNS void LANGUAGE sql AS $$
        INSERT INTO report_totals_changes (month, department_id, category, channel, first_responses,
                                           first_responses_on_time, next_responses, next_responses_on_time,
                                           resolutions, resolutions_on_time)
        VALUES (report_month(f.started_at), f.department_id, f.category, f.channel,
                sign * (f.kind = 'first_response')::int, sign * (f.kind = 'first_response' AND f.within_target)::int,
                sign * (f.kind = 'next_response')::int, sign * (f.kind = 'next_response' AND f.within_target)::int,
                sign * (f.kind = 'resolution')::int, sign * (f.kind = 'resolution' AND f.within_target)::int);
        INSERT INTO report_minutes_changes (month, department_id, category, channel, kind, business_bucket,
                                            calendar_bucket, change)
        VALUES (report_month(f.started_at), f.department_id, f.category, f.channel, f.kind,
                report_bucket(f.business_minutes), report_bucket(f.calendar_minutes), sign)
    $$
    """,
    """
    CREATE FUNCTION report_facts_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM report_fact(OLD, -1);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            PERFORM report_fact(NEW, 1);
        END IF;
        RETURN NULL;
    END;
    $$
    """,
)

# An UPDATE adds change rows only when something counted is different.
TRIGGERS = (
    "CREATE TRIGGER report_tickets_inserted AFTER INSERT ON tickets"
    " FOR EACH ROW EXECUTE FUNCTION report_tickets_changed()",
    """CREATE TRIGGER report_tickets_updated AFTER UPDATE ON tickets FOR EACH ROW
    WHEN ((OLD.sent_at, OLD.department_id, OLD.category, OLD.channel, OLD.reopen_count > 0,
           OLD.status IN ('resolved', 'closed'))
          IS DISTINCT FROM (NEW.sent_at, NEW.department_id, NEW.category, NEW.channel, NEW.reopen_count > 0,
                            NEW.status IN ('resolved', 'closed')))
    EXECUTE FUNCTION report_tickets_changed()""",
    "CREATE TRIGGER report_tickets_deleted BEFORE DELETE ON tickets"
    " FOR EACH ROW EXECUTE FUNCTION report_ticket_deleted()",
    "CREATE TRIGGER report_targets_inserted AFTER INSERT ON sla_targets FOR EACH ROW"
    " WHEN (NEW.state = 'breached') EXECUTE FUNCTION report_targets_changed()",
    """CREATE TRIGGER report_targets_updated AFTER UPDATE ON sla_targets FOR EACH ROW
    WHEN ((OLD.state = 'breached' OR NEW.state = 'breached')
          AND (OLD.state, OLD.ticket_id, OLD.kind, OLD.started_at, OLD.completed_at IS NULL)
              IS DISTINCT FROM (NEW.state, NEW.ticket_id, NEW.kind, NEW.started_at, NEW.completed_at IS NULL))
    EXECUTE FUNCTION report_targets_changed()""",
    "CREATE TRIGGER report_targets_deleted AFTER DELETE ON sla_targets FOR EACH ROW"
    " WHEN (OLD.state = 'breached') EXECUTE FUNCTION report_targets_changed()",
    "CREATE TRIGGER report_facts_inserted_or_deleted AFTER INSERT OR DELETE ON response_facts"
    " FOR EACH ROW EXECUTE FUNCTION report_facts_changed()",
    """CREATE TRIGGER report_facts_updated AFTER UPDATE ON response_facts FOR EACH ROW
    WHEN ((OLD.started_at, OLD.kind, OLD.business_minutes, OLD.calendar_minutes, OLD.within_target,
           OLD.department_id, OLD.category, OLD.channel)
          IS DISTINCT FROM (NEW.started_at, NEW.kind, NEW.business_minutes, NEW.calendar_minutes,
                            NEW.within_target, NEW.department_id, NEW.category, NEW.channel))
    EXECUTE FUNCTION report_facts_changed()""",
)

# What is already there, counted once into the change tables (grouped: a handful of rows per month).
BACKFILL = (
    f"""
    INSERT INTO report_totals_changes ({", ".join(KEY + COUNTERS)})
    SELECT {", ".join(KEY)}, {", ".join(f"sum({c})" for c in COUNTERS)} FROM (
        SELECT report_month(sent_at) AS month, department_id, category, channel, 1 AS tickets,
               (reopen_count > 0)::int AS reopened,
               (status IN ('resolved', 'closed') OR reopen_count > 0)::int AS ever_resolved,
               0 AS first_responses, 0 AS first_responses_on_time, 0 AS next_responses,
               0 AS next_responses_on_time, 0 AS resolutions, 0 AS resolutions_on_time,
               0 AS first_response_breaches, 0 AS next_response_breaches, 0 AS resolution_breaches,
               0 AS first_response_breaches_unanswered
        FROM tickets
        UNION ALL
        SELECT report_month(started_at), department_id, category, channel, 0, 0, 0,
               (kind = 'first_response')::int, (kind = 'first_response' AND within_target)::int,
               (kind = 'next_response')::int, (kind = 'next_response' AND within_target)::int,
               (kind = 'resolution')::int, (kind = 'resolution' AND within_target)::int, 0, 0, 0, 0
        FROM response_facts
        UNION ALL
        SELECT report_month(s.started_at), t.department_id, t.category, t.channel, 0, 0, 0, 0, 0, 0, 0, 0, 0,
               (s.kind = 'first_response')::int, (s.kind = 'next_response')::int, (s.kind = 'resolution')::int,
               (s.kind = 'first_response' AND s.completed_at IS NULL)::int
        FROM sla_targets s JOIN tickets t ON t.id = s.ticket_id WHERE s.state = 'breached'
    ) AS counted
    GROUP BY {", ".join(KEY)}
    """,
    """
    INSERT INTO report_minutes_changes (month, department_id, category, channel, kind, business_bucket,
                                        calendar_bucket, change)
    SELECT report_month(started_at), department_id, category, channel, kind, report_bucket(business_minutes),
           report_bucket(calendar_minutes), count(*)
    FROM response_facts GROUP BY 1, 2, 3, 4, 5, 6, 7
    """,
)


def _string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def _key() -> list[sa.Column]:
    return [
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("category", _string(40), nullable=False),
        sa.Column("channel", _string(40), nullable=False),
    ]


def _counters() -> list[sa.Column]:
    return [sa.Column(name, sa.Integer(), server_default="0", nullable=False) for name in COUNTERS]


def _change_id() -> sa.Column:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def upgrade() -> None:
    op.create_table("report_totals", *_key(), *_counters(), sa.PrimaryKeyConstraint(*KEY))
    op.create_table("report_totals_changes", _change_id(), *_key(), *_counters(), sa.PrimaryKeyConstraint("id"))
    op.create_table(
        "report_minutes",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("dimension", _string(20), nullable=False),
        sa.Column("value", _string(40), nullable=False),
        sa.Column("kind", _string(40), nullable=False),
        sa.Column("clock", _string(20), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("month", "dimension", "value", "kind", "clock", "bucket"),
    )
    op.create_table(
        "report_minutes_changes",
        _change_id(),
        *_key(),
        sa.Column("kind", _string(40), nullable=False),
        sa.Column("business_bucket", sa.SmallInteger(), nullable=False),
        sa.Column("calendar_bucket", sa.SmallInteger(), nullable=False),
        sa.Column("change", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_context().dialect.name != "postgresql":
        return
    for statement in FUNCTIONS + TRIGGERS + BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        for table, trigger in (
            ("response_facts", "report_facts_updated"),
            ("response_facts", "report_facts_inserted_or_deleted"),
            ("sla_targets", "report_targets_deleted"),
            ("sla_targets", "report_targets_updated"),
            ("sla_targets", "report_targets_inserted"),
            ("tickets", "report_tickets_deleted"),
            ("tickets", "report_tickets_updated"),
            ("tickets", "report_tickets_inserted"),
        ):
            op.execute(f"DROP TRIGGER {trigger} ON {table}")
        for function in (
            "report_facts_changed()",
            "report_fact(response_facts, integer)",
            "report_targets_changed()",
            "report_target(sla_targets, integer)",
            "report_ticket_deleted()",
            "report_tickets_changed()",
            "report_ticket_breaches(integer, integer, varchar, varchar, integer)",
            "report_ticket(tickets, integer)",
            "report_bucket(double precision)",
            "report_month(timestamptz)",
        ):
            op.execute(f"DROP FUNCTION {function}")
    op.drop_table("report_minutes_changes")
    op.drop_table("report_minutes")
    op.drop_table("report_totals_changes")
    op.drop_table("report_totals")
