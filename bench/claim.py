"""Claiming under 50 concurrent agents with 100,000 open tickets on PostgreSQL.

    .venv/bin/python bench/claim.py [--quick] [--no-write]

The agents are 50 threads of this process, each with its own database connection, each claiming through
service.workflow.claim_next in its own transaction, exactly as POST /api/v1/queue/{department}/claim does (without
the HTTP layer: this measures the queue, not the web server). An agent who has claimed a ticket finishes it (closes
it, untimed) before claiming the next, so the queue holds about as many claimed tickets as there are agents, as
it does at work. Two loads:

- saturation: every agent claims again the moment it has a ticket (closed loop): the throughput ceiling, and
  the latency when 50 claims are always waiting on each other;
- paced: every agent claims once a second on its own schedule (open loop, 50 claims/s in all, far above what 50
  people clicking do) and latency counts from the scheduled moment.

Everything (this process, PostgreSQL) shares the machine's cores.
"""

import argparse
import random
import threading
import time
from datetime import UTC, datetime, timedelta

import harness
from sqlalchemy import create_engine, event, text
from sqlmodel import Session, select

from models import Department, Role, Ticket, User
from service import auth, workflow
from service.db import create_db_engine, session_scope
from service.settings import Settings

FINISH = text("UPDATE tickets SET status = 'closed', next_due = NULL, claimed_until = NULL WHERE id = :id")
TICKETS = 100_000
AGENTS = 50
TARGET_P99_MS = 30
NOW = datetime.now(UTC).replace(microsecond=0)
LEASE = timedelta(minutes=20)
# The run before any change (RESULTS.md, "Claiming", 01:25 UTC), for the "baseline" column.
BASELINE: dict[str, float] = {"paced_p99": 78579.1, "saturated_p99": 6817.6}


def fill_queue(url: str, count: int) -> None:
    """One ticket made by the ORM (so every column has its model default), copied `count` times in SQL."""
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            kcc = session.exec(select(Department).where(Department.slug == "kcc")).one()
            template = Ticket(
                channel="x",
                author_handle="@template",
                category="public_space_report",
                confidence=0.9,
                model_version="bench",
                department_id=kcc.id,
                sent_at=NOW,
                opened_at=NOW,
            )
            session.add(template)
            session.commit()
            template_id = template.id
        columns = [c.name for c in Ticket.__table__.columns if c.name != "id"]
        # Deadlines spread over five days; 2% urgent, 8% high; every ticket waiting ("new").
        varied = {
            "author_handle": "'@citizen' || n",
            "status": "'new'",
            "priority": "CASE WHEN n % 50 = 0 THEN 'urgent' WHEN n % 12 = 0 THEN 'high' ELSE 'normal' END",
            "next_due": "due",
            "first_response_due": "due",
            "resolution_due": "due + interval '2 days'",
            "sent_at": "due - interval '2 hours'",
            "opened_at": "due - interval '2 hours'",
            "sla_state": "'running'",
        }
        select_list = ", ".join(varied.get(column, column) for column in columns)
        with engine.begin() as connection:
            connection.execute(
                text(
                    f"INSERT INTO tickets ({', '.join(columns)}) "
                    f"SELECT {select_list} FROM tickets, "
                    "LATERAL (SELECT n, :now + (hashint4(n)::bigint % 7200 + 7200) % 7200 * interval '1 minute' AS due "
                    "FROM generate_series(1, :count) AS n) AS generated WHERE tickets.id = :template"
                ),
                {"now": NOW, "count": count, "template": template_id},
            )
            connection.execute(text("DELETE FROM tickets WHERE id = :template"), {"template": template_id})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE tickets"))
    finally:
        engine.dispose()


def make_agents(url: str, count: int) -> list[int]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            users = [auth.create_user(session, f"agent{i}", role=Role.agent, departments=["kcc"]) for i in range(count)]
            session.commit()
            return [u.id for u in users]
    finally:
        engine.dispose()


def explain(url: str, department: Department) -> tuple[str, float]:
    """The claim query's plan and execution time, as PostgreSQL runs it for claim_next (rolled back)."""
    engine = create_engine(url)
    try:
        statement = _claim_statement(engine, department)
        with engine.connect() as connection:
            compiled = statement.compile(connection, compile_kwargs={"render_postcompile": True})
            params = {key: getattr(value, "value", value) for key, value in compiled.params.items()}
            rows = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, TIMING OFF) {compiled}", params).all()
            connection.rollback()
        lines = [row[0] for row in rows]
        total = next((float(line.split()[2]) for line in lines if line.startswith("Execution Time")), float("nan"))
        return "\n".join(lines), total
    finally:
        engine.dispose()


class _Captured(Exception):
    pass


def _claim_statement(engine, department: Department):
    """The statement claim_next sends, taken from it just before it would run."""
    captured = []

    def capture(state) -> None:
        captured.append(state.statement)
        raise _Captured

    with Session(engine) as session:
        event.listen(session, "do_orm_execute", capture)
        try:
            workflow.claim_next(session, department, User(id=0, username="x", role=Role.agent), now=NOW, lease=LEASE)
        except _Captured:
            pass
    return captured[0]


def run_agents(engine, department: Department, agent_ids: list[int], *, seconds: float, pace: float | None) -> dict:
    """Each agent claims until time is up: back to back (pace None), or once every `pace` seconds."""
    latencies: list[float] = []
    claimed: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(len(agent_ids) + 1)
    window = {}

    def agent(user_id: int, offset: float) -> None:
        try:
            with Session(engine) as session:
                user = session.get(User, user_id)
                session.expunge(user)
            start.wait()
            began = window["began"]
            number = 0
            while True:
                scheduled = time.perf_counter() if pace is None else began + offset + number * pace
                if scheduled >= window["stop"]:
                    return
                if pace is not None and scheduled > time.perf_counter():
                    time.sleep(scheduled - time.perf_counter())
                with session_scope(engine) as session:
                    ticket = workflow.claim_next(session, department, user, now=NOW, lease=LEASE)
                    ticket_id = ticket.id if ticket else None
                elapsed = (time.perf_counter() - scheduled) * 1000
                if ticket_id is not None:
                    # The agent's work on it, not timed: replied and closed, out of the queue.
                    with engine.begin() as connection:
                        connection.execute(FINISH, {"id": ticket_id})
                with lock:
                    latencies.append(elapsed)
                    if ticket_id is not None:
                        claimed.append(ticket_id)
                number += 1
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    rng = random.Random(7)
    threads = [threading.Thread(target=agent, args=(i, rng.random() * (pace or 0))) for i in agent_ids]
    for thread in threads:
        thread.start()
    window["began"] = time.perf_counter() + 0.2
    window["stop"] = window["began"] + seconds
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - window["began"]
    if errors:
        raise errors[0]
    return {
        "claims": len(latencies),
        "throughput": len(latencies) / elapsed,
        "p50": harness.percentile(latencies, 50),
        "p99": harness.percentile(latencies, 99),
        "max": max(latencies),
        "twice": len(claimed) - len(set(claimed)),
        "empty": len(latencies) - len(claimed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10,000 tickets, 5 s per load")
    parser.add_argument("--no-write", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    tickets = 10_000 if args.quick else TICKETS
    seconds = 5 if args.quick else 20
    machine = harness.machine()
    print(machine)
    url = harness.create_postgres_database()
    try:
        harness.upgrade(url)
        harness.apply_default_config(url)
        began = time.perf_counter()
        fill_queue(url, tickets)
        print(f"{tickets:,} open tickets in {time.perf_counter() - began:.1f} s", flush=True)
        agent_ids = make_agents(url, AGENTS)
        engine = create_db_engine(
            Settings(
                _env_file=None, database_url=url, db_pool_size=AGENTS, db_max_overflow=0, db_pool_timeout_seconds=60
            )
        )
        with Session(engine) as session:
            kcc = session.exec(select(Department).where(Department.slug == "kcc")).one()
            session.expunge(kcc)
        plan, plan_ms = explain(url, kcc)
        print(plan)
        meter = harness.CpuMeter(lambda: harness.postgres_backends(url))
        meter.start()
        saturated = run_agents(engine, kcc, agent_ids, seconds=seconds, pace=None)
        db_seconds = meter.stop()
        print(
            f"saturation: {_line(saturated)}; database CPU {db_seconds * 1000 / saturated['claims']:.2f} ms per claim"
        )
        paced = run_agents(engine, kcc, agent_ids, seconds=seconds, pace=1.0)
        print(f"paced, 50 claims/s: {_line(paced)}", flush=True)
        engine.dispose()
    finally:
        harness.drop_postgres_database(url)
    report = render(machine, args, tickets, seconds, plan, plan_ms, saturated, paced, db_seconds)
    print("\n" + report)
    if not args.no_write:
        harness.append_results("Claiming", report, note=NOTE)
        print(f"appended to {harness.RESULTS}")


def _line(figures: dict) -> str:
    return (
        f"{figures['claims']:,} claims, {figures['throughput']:,.0f}/s, p50 {figures['p50']:.1f} ms, "
        f"p99 {figures['p99']:.1f} ms, max {figures['max']:.0f} ms, claimed twice {figures['twice']}"
    )


NOTE = (
    "Reproduce with `.venv/bin/python bench/claim.py` (`--quick`: 10,000 tickets). 50 agent threads in one "
    "process call service.workflow.claim_next, each in its own transaction on its own connection, and close "
    "each ticket they claim (untimed); PostgreSQL on the same machine."
)


def render(machine, args, tickets, seconds, plan, plan_ms, saturated, paced, db_seconds) -> str:
    lines = [
        f"### Run of {machine.split(' · ')[0]}{' (--quick)' if args.quick else ''}",
        "",
        f"{machine}. The agents' threads and PostgreSQL share the cores.",
        "",
        f"{tickets:,} open tickets in one department, {AGENTS} agents, {seconds} s per load. The claim query alone "
        f"(EXPLAIN ANALYZE, no concurrency): {plan_ms:.1f} ms.",
        "",
        "| load | claims | claims/s | p50 ms | p99 ms | max ms | claimed twice | database CPU ms per claim |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| saturation (closed loop) | {saturated['claims']:,} | {saturated['throughput']:,.0f} "
        f"| {saturated['p50']:.1f} | {saturated['p99']:.1f} | {saturated['max']:.0f} | {saturated['twice']} "
        f"| {db_seconds * 1000 / saturated['claims']:.2f} |",
        f"| paced, each agent once a second (open loop) | {paced['claims']:,} | {paced['throughput']:,.0f} "
        f"| {paced['p50']:.1f} | {paced['p99']:.1f} | {paced['max']:.0f} | {paced['twice']} | |",
        "",
        "| target | figure | baseline | |",
        "| --- | --- | --- | --- |",
        f"| claiming p99 < {TARGET_P99_MS} ms (paced) | {paced['p99']:.1f} ms | {_base('paced_p99', ' ms')} "
        f"| {harness.verdict(paced['p99'] < TARGET_P99_MS)} |",
        f"| claiming p99 < {TARGET_P99_MS} ms (saturation) | {saturated['p99']:.1f} ms "
        f"| {_base('saturated_p99', ' ms')} | {harness.verdict(saturated['p99'] < TARGET_P99_MS)} |",
        "",
        "<details><summary>Plan of the claim query</summary>",
        "",
        "```",
        plan,
        "```",
        "</details>",
    ]
    return "\n".join(lines) + "\n"


def _base(key: str, unit: str) -> str:
    return f"{BASELINE[key]:,.1f}{unit}" if key in BASELINE else "–"


if __name__ == "__main__":
    main()
