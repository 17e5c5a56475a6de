"""The audit trail is append-only in the database itself: plain SQL may add events, never change or remove them."""

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from models import Role
from service import auth
from service.db import create_db_engine
from service.migrations import downgrade, upgrade
from service.settings import Settings
from tests.conftest import BACKENDS, migrated_database

REFUSED = "audit_events is append-only"


@pytest.fixture(scope="module", params=BACKENDS)
def trail_url(request, tmp_path_factory) -> Iterator[str]:
    """A database of this module's own, migrated to head; each test adds its own events to it."""
    with migrated_database(request.param, tmp_path_factory.mktemp("audit")) as url:
        yield url


@pytest.fixture(scope="module")
def trail(trail_url) -> Iterator[Engine]:
    engine = create_db_engine(Settings(_env_file=None, database_url=trail_url))
    yield engine
    engine.dispose()


def append(connection: Connection, username: str, user_id: int | None = None) -> int:
    """Add an event with a plain INSERT (no ORM); returns its id."""
    return connection.execute(
        text(
            "INSERT INTO audit_events (at, user_id, username, action, object_type, detail)"
            " VALUES (CURRENT_TIMESTAMP, :user_id, :username, 'create', 'user', '{}') RETURNING id"
        ),
        {"user_id": user_id, "username": username},
    ).scalar_one()


def event(engine: Engine, event_id: int) -> tuple | None:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT user_id, username, action FROM audit_events WHERE id = :id"), {"id": event_id}
        ).one_or_none()


def test_plain_sql_may_add_an_event(trail):
    with trail.begin() as connection:
        event_id = append(connection, "alice")
    assert event(trail, event_id) == (None, "alice", "create")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_events SET action = 'read' WHERE id = :id",
        "UPDATE audit_events SET username = 'someone else' WHERE id = :id",
        "UPDATE audit_events SET at = at WHERE id = :id",  # even a write of the same value
        "DELETE FROM audit_events WHERE id = :id",
        "DELETE FROM audit_events",
    ],
)
def test_plain_sql_may_not_change_or_delete_an_event(trail, statement):
    with trail.begin() as connection:
        event_id = append(connection, "bob")

    with pytest.raises(DBAPIError, match=REFUSED), trail.begin() as connection:
        connection.execute(text(statement), {"id": event_id})

    assert event(trail, event_id) == (None, "bob", "create")


def test_truncate_is_refused_on_postgresql(trail):
    if trail.dialect.name != "postgresql":
        pytest.skip("SQLite has no TRUNCATE (DELETE without WHERE is refused above)")
    with trail.begin() as connection:
        event_id = append(connection, "carol")

    with pytest.raises(DBAPIError, match=REFUSED), trail.begin() as connection:
        connection.execute(text("TRUNCATE audit_events"))

    assert event(trail, event_id) == (None, "carol", "create")


def test_deleting_a_user_only_unlinks_their_events(trail):
    with Session(trail) as session:
        user_id = auth.create_user(session, "leaver", role=Role.agent).id
        session.commit()
    with trail.begin() as connection:
        event_id = append(connection, "leaver", user_id)

    # While the user exists, nobody may unlink the events from them.
    with pytest.raises(DBAPIError, match=REFUSED), trail.begin() as connection:
        connection.execute(text("UPDATE audit_events SET user_id = NULL WHERE id = :id"), {"id": event_id})
    assert event(trail, event_id) == (user_id, "leaver", "create")

    # The foreign key's ON DELETE SET NULL is the one change allowed; the name stays as written.
    with trail.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": user_id})
    assert event(trail, event_id) == (None, "leaver", "create")


def test_downgrade_removes_the_guard_and_upgrade_restores_it(trail_url, trail):
    with trail.begin() as connection:
        event_id = append(connection, "dave")

    downgrade(trail_url, "0005")
    try:
        with trail.begin() as connection:
            connection.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": event_id})
    finally:
        upgrade(trail_url)
    assert event(trail, event_id) is None

    with trail.begin() as connection:
        event_id = append(connection, "dave")
    with pytest.raises(DBAPIError, match=REFUSED), trail.begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": event_id})
