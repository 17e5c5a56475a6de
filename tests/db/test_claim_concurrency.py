"""Many agents claiming at once: every ticket handed out exactly once, each agent's claims in deadline order."""

import random
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlmodel import Session, select

from models import Department, Ticket, User
from service import auth, workflow
from service.db import create_db_engine, session_scope
from service.settings import Settings

NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)


def fill_queue(engine, count: int) -> Department:
    rng = random.Random(7)
    with Session(engine, expire_on_commit=False) as session:
        kcc = session.exec(select(Department).where(Department.slug == "kcc")).one()
        rows = []
        for i in range(count):
            due = NOW + timedelta(minutes=rng.randrange(0, 5 * 24 * 60))
            rows.append(
                {
                    "status": "new",
                    "channel": "x",
                    "author_handle": f"@citizen{i}",
                    "category": "public_space_report",
                    "confidence": 0.9,
                    "model_version": "test",
                    "urgent": False,
                    "reasons": [],
                    "department_id": kcc.id,
                    "priority": "normal",
                    "version": 1,
                    "sent_at": due - timedelta(hours=2),
                    "opened_at": due - timedelta(hours=2),
                    "reopen_count": 0,
                    "first_response_due": due,
                    "resolution_due": due + timedelta(days=2),
                    "next_due": due,
                    "sla_state": "running",
                    "created_at": NOW,
                    "updated_at": NOW,
                }
            )
        session.execute(insert(Ticket), rows)
        session.commit()
        return kcc


def claim_everything(engine, department, agents: int) -> dict[str, list[tuple[int, datetime]]]:
    with Session(engine) as session:
        users = [auth.create_user(session, f"agent{i}", role="agent", departments=["kcc"]) for i in range(agents)]
        session.commit()
        names = [u.username for u in users]
    claims: dict[str, list[tuple[int, datetime]]] = {name: [] for name in names}
    errors: list[BaseException] = []
    start = threading.Barrier(agents)

    def agent(name: str) -> None:
        try:
            start.wait()
            while True:
                with session_scope(engine) as session:
                    user = session.exec(select(User).where(User.username == name)).one()
                    ticket = workflow.claim_next(session, department, user, now=NOW, lease=timedelta(hours=1))
                    if ticket is None:
                        return
                    claims[name].append((ticket.id, ticket.next_due))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=agent, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not errors, errors[:3]
    return claims


@pytest.mark.parametrize(("tickets", "agents"), [(5000, 50)])
def test_concurrent_claims_on_postgres_hand_out_every_ticket_exactly_once(db, tickets, agents):
    if db.dialect.name != "postgresql":
        pytest.skip("this size runs on PostgreSQL; SQLite has its own smaller case")
    _check(db, tickets, agents)


def test_concurrent_claims_on_sqlite_hand_out_every_ticket_exactly_once(db):
    if db.dialect.name != "sqlite":
        pytest.skip("the PostgreSQL case is larger")
    _check(db, 600, 8)


def _check(engine, tickets: int, agents: int) -> None:
    department = fill_queue(engine, tickets)
    # One connection per agent, as if each sat at their own API process.
    pooled = create_db_engine(
        Settings(_env_file=None, database_url=engine.url.render_as_string(hide_password=False), db_pool_size=agents)
    )
    try:
        claims = claim_everything(pooled, department, agents)
    finally:
        pooled.dispose()

    handed_out = [ticket_id for taken in claims.values() for ticket_id, _ in taken]
    assert len(handed_out) == tickets
    assert len(set(handed_out)) == tickets
    for taken in claims.values():
        deadlines = [due for _, due in taken]
        assert deadlines == sorted(deadlines)
    print(f"\n{tickets} tickets claimed by {agents} agents: {len(handed_out)} handed out, 0 twice")
