"""Schemathesis against the app's own OpenAPI schema, in process: no 5xx, every answer as its schema declares."""

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlmodel import Session

from models import Role
from service import auth
from service.app import create_app
from service.configuration import apply_config, read_config_file
from service.migrations import upgrade
from tests.api.test_messages import message
from tests.conftest import KeywordClassifier, create_postgres_database, drop_postgres_database, make_settings

CHECKS = [not_a_server_error, response_schema_conformance]
# Bounded: a few examples per operation keeps the whole run near a minute on two cores; CI replays the same
# examples every run (the "ci" hypothesis profile in tests/conftest.py derandomizes).
FUZZ = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)


class Fuzzed:
    def __init__(self, client: TestClient, headers: dict[str, dict[str, str]]):
        self.client = client
        self.headers = headers


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fuzzed(request, tmp_path_factory) -> Iterator[Fuzzed]:
    """The app over a migrated, seeded database with some tickets, an admin and an integration token."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'webcare.db'}"
    else:
        url = create_postgres_database()
    try:
        upgrade(url)
        app = create_app(
            make_settings(
                url,
                secret_key="fuzzing-secret-key-0123456789-0123456789",
                keep_original_text=True,
                # Thousands of calls in a minute from one address: the limits have tests of their own.
                ingest_rate_per_token=0,
                ingest_rate_per_ip=0,
            ),
            classifier=KeywordClassifier(),
        )
        # The lifespan (engine, classifier) runs for as long as this client is open.
        with TestClient(app) as client:
            with Session(app.state.engine) as session:
                apply_config(session, read_config_file())
                headers = {}
                for name, role in (("fuzz-admin", Role.admin), ("fuzz-feed", Role.integration)):
                    auth.create_user(session, name, role=role)
                    headers[name] = {"Authorization": f"Bearer {auth.create_token(session, name)}"}
                session.commit()
            # Real tickets, so that small ids the fuzzer tries often exist.
            for number in range(5):
                text = ["Lantaarnpaal kapot, bel 0612345678", "Hoe vraag ik een paspoort aan?"][number % 2]
                client.post("/api/v1/messages", json=message(f"seed-{number}", text=text), headers=headers["fuzz-feed"])
            yield Fuzzed(client, headers)
    finally:
        if request.param == "postgresql":
            drop_postgres_database(url)


# The schema is read from an app that is never started (cheap, no database); the calls go to the fixture's app.
# (schemathesis.pytest.from_fixture would do both in one, but its pytest plugin does not run on pytest 9.)
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(make_settings("sqlite://"), classifier=KeywordClassifier())
)


@schema.parametrize()
@FUZZ
def test_every_operation_as_admin(case, fuzzed):
    case.call_and_validate(app=fuzzed.client.app, headers=fuzzed.headers["fuzz-admin"], checks=CHECKS)


@schema.include(path_regex=r"^/api/v1/messages(/batch)?$", method="POST").parametrize()
@settings(FUZZ, max_examples=40)
def test_ingestion_as_an_integration(case, fuzzed):
    case.call_and_validate(app=fuzzed.client.app, headers=fuzzed.headers["fuzz-feed"], checks=CHECKS)
