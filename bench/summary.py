"""The reports summary (service.reports.summary) over 1,000,000 tickets on PostgreSQL, cold and warm.

    .venv/bin/python bench/summary.py [--quick] [--no-write]

Three years of tickets (1,000,000; --quick: 100,000) with their response targets (first response and resolution,
a next response for one in ten) and the response facts of every completed target are generated in SQL, with
the shape of real traffic: 70% to the KCC, 25% to Communicatie, 5% triaged; 8% of targets breached; the last week
partly still open. Messages and the timeline are not generated: the summary does not read them.

The data is loaded at migration 0008 and then migrated to head: migration 0009 counts it into the report
roll-ups and the worker's job folds the counts in, as in an installation that already holds its history; both
times are printed.

Four questions, as a manager's dashboard asks them: the last 30 days and all time, for every department and for
the KCC alone. "Cold" is the first run on a new connection (the operating system's file cache is not dropped: it
is shared with everything else on the machine); "warm" is the p50 and p99 of the following runs.
This process and PostgreSQL share the machine's cores.
"""

import argparse
import time
from datetime import UTC, datetime, timedelta

import harness
from sqlalchemy import create_engine, text
from sqlmodel import Session, select

from models import Department, ResponseFact, SlaTarget, Ticket
from service import reports, rollups

TICKETS = 1_000_000
YEARS = 3
RUNS = 20
TARGET_MS = 300
# Warm p99 of the run before any change (RESULTS.md, "Reports summary", 01:28 UTC), for the "baseline" column.
BASELINE: dict[str, float] = {"last 30 days": 568, "last 30 days, KCC": 717, "all time": 3516, "all time, KCC": 3280}
NOW = datetime.now(UTC).replace(microsecond=0)
BEFORE_ROLLUPS = "0008"


def _copy(connection, table, template_id: int, overrides: dict[str, str], source: str, params: dict) -> int:
    """INSERT every row of `source` into `table`: the template row's values, with `overrides` (SQL expressions)."""
    columns = [c.name for c in table.columns if c.name != "id"]
    values = ", ".join(overrides.get(column, f"template.{column}") for column in columns)
    result = connection.execute(
        text(
            f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT {values} "
            f"FROM {table.name} AS template, {source} WHERE template.id = :template_id"
        ),
        {**params, "template_id": template_id},
    )
    return result.rowcount


def generate(url: str, count: int) -> dict[str, int]:
    """Tickets, targets and facts; returns row counts."""
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            departments = {d.slug: d.id for d in session.exec(select(Department)).all()}
            # One row per table made by the ORM, so that every column has its model's default; copied in SQL.
            ticket = Ticket(
                channel="x",
                author_handle="@template",
                category="service_question",
                confidence=0.9,
                model_version="bench",
                department_id=departments["kcc"],
                sent_at=NOW,
                opened_at=NOW,
            )
            session.add(ticket)
            session.flush()
            target = SlaTarget(
                ticket_id=ticket.id,
                kind="first_response",
                clock="business",
                target_minutes=240,
                started_at=NOW,
                due_at=NOW,
                at_risk_at=NOW,
            )
            session.add(target)
            session.flush()
            fact = ResponseFact(
                ticket_id=ticket.id,
                target_id=target.id,
                kind="first_response",
                started_at=NOW,
                completed_at=NOW,
                calendar_minutes=1,
                business_minutes=1,
                within_target=True,
                department_id=departments["kcc"],
                category="service_question",
                channel="x",
                priority="normal",
            )
            session.add(fact)
            session.commit()
            templates = {"ticket": ticket.id, "target": target.id, "fact": fact.id}
        counts = {}
        with engine.begin() as connection:
            # Loading fast: no foreign-key triggers (the rows are consistent by construction) and the secondary
            # indexes built once at the end instead of row by row.
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            connection.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            indexes = connection.execute(
                text(
                    "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = 'public' "
                    "AND i.tablename IN ('tickets', 'sla_targets', 'response_facts') AND NOT EXISTS "
                    "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
                )
            ).all()
            for name, _definition in indexes:
                connection.execute(text(f'DROP INDEX "{name}"'))
            span = YEARS * 365 * 24 * 3600
            generated = (
                "(SELECT n, :now - :span * interval '1 second' + (n::float8 / :count) * :span * interval '1 second' "
                "AS sent, abs(hashint4(n * 7)) % 100 AS r1, abs(hashint4(n * 13)) % 1000 AS r2, "
                "abs(hashint4(n * 17)) % 1000 AS r3 FROM generate_series(1, :count) AS n) AS g"
            )
            closed = "(g.sent < :now - interval '7 days' OR g.r2 % 10 < 6)"
            counts["tickets"] = _copy(
                connection,
                Ticket.__table__,
                templates["ticket"],
                {
                    "author_handle": "'@citizen' || (g.n % 200000)",
                    "department_id": f"CASE WHEN g.r1 < 70 THEN {departments['kcc']} "
                    f"WHEN g.r1 < 95 THEN {departments['communicatie']} ELSE {departments['triage']} END",
                    "category": "CASE WHEN g.r1 < 40 THEN 'public_space_report' WHEN g.r1 < 70 THEN 'service_question'"
                    " ELSE 'communication' END",
                    "channel": "(ARRAY['x','facebook','instagram','whatsapp','web','email'])[1 + g.r2 % 6]",
                    "priority": "CASE WHEN g.r3 < 20 THEN 'urgent' WHEN g.r3 < 100 THEN 'high' ELSE 'normal' END",
                    "status": f"CASE WHEN {closed} THEN (CASE WHEN g.r2 % 3 = 0 THEN 'closed' ELSE 'resolved' END) "
                    "WHEN g.r2 % 10 < 8 THEN 'new' ELSE 'open' END",
                    "sent_at": "g.sent",
                    "opened_at": "g.sent",
                    "created_at": "g.sent",
                    "updated_at": "g.sent",
                    "first_response_due": "g.sent + interval '4 hours'",
                    "resolution_due": "g.sent + interval '40 hours'",
                    "next_due": f"CASE WHEN {closed} THEN NULL ELSE g.sent + interval '4 hours' END",
                    "first_responded_at": f"CASE WHEN {closed} OR g.r2 % 10 = 9 "
                    "THEN g.sent + (5 + g.r3 % 400) * interval '1 minute' END",
                    "resolved_at": f"CASE WHEN {closed} THEN g.sent + (60 + g.r3 * 4) * interval '1 minute' END",
                    "reopen_count": "CASE WHEN g.r3 % 33 = 0 THEN 1 ELSE 0 END",
                    "sla_state": f"CASE WHEN g.r1 % 12 = 0 THEN 'breached' WHEN {closed} THEN 'met' ELSE 'running' END",
                },
                generated,
                {"now": NOW, "span": span, "count": count},
            )
            # Targets: first response and resolution for every ticket, a next response for one in ten.
            kinds = (
                "(SELECT t.*, k.kind AS target_kind, abs(hashint4(t.id * 31 + k.number)) % 100 AS r "
                "FROM tickets t CROSS JOIN (VALUES ('first_response', 1), ('resolution', 2), ('next_response', 3)) "
                "AS k(kind, number) WHERE t.id <> :template_id AND (k.number < 3 OR t.id % 10 = 0)) AS x"
            )
            completed = (
                "CASE x.target_kind WHEN 'first_response' THEN x.first_responded_at "
                "WHEN 'resolution' THEN x.resolved_at ELSE x.first_responded_at + interval '3 hours' END"
            )
            minutes = "CASE x.target_kind WHEN 'resolution' THEN 2400 ELSE 240 END"
            counts["sla_targets"] = _copy(
                connection,
                SlaTarget.__table__,
                templates["target"],
                {
                    "ticket_id": "x.id",
                    "kind": "x.target_kind",
                    "target_minutes": minutes,
                    "started_at": "x.sent_at",
                    "due_at": f"x.sent_at + {minutes} * interval '1 minute'",
                    "at_risk_at": f"x.sent_at + {minutes} * 0.8 * interval '1 minute'",
                    "state": f"CASE WHEN x.r < 8 THEN 'breached' WHEN {completed} IS NOT NULL THEN 'met' "
                    "ELSE 'running' END",
                    "completed_at": completed,
                    "created_at": "x.sent_at",
                },
                kinds,
                {"template_id": templates["ticket"]},
            )
            # A fact for every completed target, measured in both clocks (business time about 60% of calendar).
            completed_targets = (
                "(SELECT s.id AS target, s.ticket_id, s.kind AS target_kind, s.started_at AS started, "
                "s.completed_at AS done, s.due_at AS due, t.department_id AS department, t.category AS cat, "
                "t.channel AS chan, t.priority AS prio FROM sla_targets s JOIN tickets t ON t.id = s.ticket_id "
                "WHERE s.completed_at IS NOT NULL AND s.id <> :target_template) AS f"
            )
            counts["response_facts"] = _copy(
                connection,
                ResponseFact.__table__,
                templates["fact"],
                {
                    "ticket_id": "f.ticket_id",
                    "target_id": "f.target",
                    "kind": "f.target_kind",
                    "started_at": "f.started",
                    "completed_at": "f.done",
                    "calendar_minutes": "extract(epoch FROM f.done - f.started) / 60",
                    "business_minutes": "extract(epoch FROM f.done - f.started) / 100",
                    "within_target": "f.done <= f.due",
                    "department_id": "f.department",
                    "category": "f.cat",
                    "channel": "f.chan",
                    "priority": "f.prio",
                },
                completed_targets,
                {"target_template": templates["target"]},
            )
            connection.execute(text("DELETE FROM response_facts WHERE id = :id"), {"id": templates["fact"]})
            connection.execute(text("DELETE FROM sla_targets WHERE id = :id"), {"id": templates["target"]})
            connection.execute(text("DELETE FROM tickets WHERE id = :id"), {"id": templates["ticket"]})
            for _name, definition in indexes:
                connection.execute(text(definition))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE tickets, sla_targets, response_facts"))
            connection.execute(text("CHECKPOINT"))
        return counts
    finally:
        engine.dispose()


def build_rollups(url: str) -> tuple[float, float]:
    """Migrate to head (the roll-ups' migration counts what is there) and fold the counts in; seconds of each."""
    began = time.perf_counter()
    harness.upgrade(url)
    counted = time.perf_counter()
    engine = create_engine(url)
    try:
        rollups.compact(engine)
    finally:
        engine.dispose()
    return round(counted - began, 1), round(time.perf_counter() - counted, 1)


def questions(url: str) -> dict[str, reports.ReportFilter]:
    engine = create_engine(url)
    with Session(engine) as session:
        kcc = session.exec(select(Department).where(Department.slug == "kcc")).one().id
    engine.dispose()
    month = NOW - timedelta(days=30)
    return {
        "last 30 days": reports.ReportFilter(start=month, end=NOW),
        "last 30 days, KCC": reports.ReportFilter(start=month, end=NOW, department_id=kcc),
        "all time": reports.ReportFilter(),
        "all time, KCC": reports.ReportFilter(department_id=kcc),
    }


def measure(url: str, where: reports.ReportFilter, *, runs: int, budget_seconds: float) -> dict:
    """Cold: the first run on a fresh connection; warm: the runs after it (at most `runs`, within the budget)."""
    engine = create_engine(url)
    try:
        timings = []
        began = time.perf_counter()
        while len(timings) < runs + 1 and (len(timings) < 3 or time.perf_counter() - began < budget_seconds):
            with Session(engine) as session:
                started = time.perf_counter()
                result = reports.summary(session, where)
                timings.append((time.perf_counter() - started) * 1000)
        warm = timings[1:]
        return {
            "cold": timings[0],
            "p50": harness.percentile(warm, 50),
            "p99": harness.percentile(warm, 99),
            "runs": len(warm),
            "volume": result["volume"],
            "exact": result["percentiles_exact"],
        }
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100,000 tickets, 5 runs per question")
    parser.add_argument("--no-write", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--keep", action="store_true", help="keep the generated database (its URL is printed)")
    args = parser.parse_args()
    count = TICKETS // 10 if args.quick else TICKETS
    runs = 5 if args.quick else RUNS
    machine = harness.machine()
    print(machine)
    url = harness.create_postgres_database()
    try:
        # Loaded before the roll-ups' migration, then migrated: the roll-ups are built as an installation that
        # already holds its history gets them (counted at upgrade, folded in by the worker's first round).
        harness.upgrade(url, BEFORE_ROLLUPS)
        harness.apply_default_config(url)
        began = time.perf_counter()
        counts = generate(url, count)
        load_seconds = time.perf_counter() - began
        print(", ".join(f"{value:,} {name}" for name, value in counts.items()) + f" in {load_seconds:.0f} s")
        built = build_rollups(url)
        print(f"roll-ups: counted at upgrade in {built[0]} s, folded in {built[1]} s")
        figures = {}
        for name, where in questions(url).items():
            figures[name] = measure(url, where, runs=runs, budget_seconds=8 if args.quick else 25)
            f = figures[name]
            print(
                f"{name}: cold {f['cold']:.0f} ms, warm p50 {f['p50']:.0f} ms, p99 {f['p99']:.0f} ms "
                f"({f['runs']} runs, volume {f['volume']:,})",
                flush=True,
            )
    finally:
        if args.keep:
            print(f"kept: {url}")
        else:
            harness.drop_postgres_database(url)
    report = render(machine, args, counts, built, figures)
    print("\n" + report)
    if not args.no_write:
        harness.append_results("Reports summary", report, note=NOTE)
        print(f"appended to {harness.RESULTS}")


NOTE = (
    "Reproduce with `.venv/bin/python bench/summary.py` (`--quick`: 100,000 tickets). service.reports.summary "
    "called in this process on a PostgreSQL database on the same machine; the data is generated in SQL (see the "
    "script's docstring for its shape)."
)


def render(machine: str, args, counts: dict, built: tuple[float, float], figures: dict) -> str:
    lines = [
        f"### Run of {machine.split(' · ')[0]}{' (--quick)' if args.quick else ''}",
        "",
        f"{machine}. This process and PostgreSQL share the cores.",
        "",
        ", ".join(f"{value:,} {name}" for name, value in counts.items()) + f", over {YEARS} years. Roll-ups "
        f"(migration 0009): counted at upgrade in {built[0]} s, folded in by the worker's job in {built[1]} s.",
        "",
        "| question | tickets in it | percentiles | cold ms | warm p50 ms | warm p99 ms | runs | target "
        "| baseline (p99) | |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, f in figures.items():
        base = f"{BASELINE[name]:,.0f} ms" if name in BASELINE else "–"
        lines.append(
            f"| {name} | {f['volume']:,} | {'exact' if f['exact'] else 'within 1%'} "
            f"| {f['cold']:,.0f} | {f['p50']:,.0f} | {f['p99']:,.0f} | {f['runs']} "
            f"| < {TARGET_MS} ms | {base} | {harness.verdict(f['p99'] < TARGET_MS)} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
