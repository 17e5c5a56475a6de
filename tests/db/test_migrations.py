"""The migrations give exactly the models' schema, and go down again, on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import inspect
from sqlmodel import SQLModel

from service.db import create_db_engine
from service.migrations import downgrade, schema_differences, upgrade
from service.settings import Settings
from tests.conftest import BACKENDS, create_postgres_database, drop_postgres_database


@pytest.fixture(params=BACKENDS)
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


def test_upgrade_gives_the_models_schema_and_downgrade_removes_it(empty_url):
    engine = create_db_engine(Settings(_env_file=None, database_url=empty_url))
    try:
        upgrade(empty_url)
        assert set(inspect(engine).get_table_names()) == set(SQLModel.metadata.tables) | {"alembic_version"}
        assert schema_differences(engine) == []

        downgrade(empty_url)
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}

        # And up again: nothing left behind by the downgrade gets in the way.
        upgrade(empty_url)
        assert schema_differences(engine) == []
    finally:
        engine.dispose()


def test_queue_ordering_has_an_index(empty_url):
    upgrade(empty_url)
    engine = create_db_engine(Settings(_env_file=None, database_url=empty_url))
    try:
        indexes = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("tickets")}
    finally:
        engine.dispose()
    assert indexes["ix_tickets_queue"] == ["department_id", "status", "next_due"]
