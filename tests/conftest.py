"""Shared fixtures: migrated databases (SQLite and PostgreSQL), the app, users with tokens, classifiers."""

import asyncio
import concurrent.futures
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel

import classifier
from models import Role, utcnow
from service import auth
from service.app import create_app
from service.configuration import apply_config, read_config_file
from service.db import create_db_engine
from service.deps import get_now
from service.migrations import upgrade
from service.modelops import TRAIN_DATA
from service.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get("WEBCARE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
# CI replays the same examples every run, so a red build is reproducible; local runs keep exploring.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if IN_CI:
    hypothesis_settings.load_profile("ci")

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


# Databases ----------------------------------------------------------------------------------------


def _postgres_reachable() -> bool:
    engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


def _start_postgres() -> None:
    versions = sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []
    if versions:
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
            check=False,
            capture_output=True,
            timeout=60,
        )


def require_postgres() -> None:
    """In CI the PostgreSQL tests must run: start the server if needed, fail if it cannot be reached."""
    if _postgres_reachable():
        return
    if not IN_CI:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} (set CI=true to require it)")
    _start_postgres()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _postgres_reachable():
            return
        time.sleep(1)
    pytest.fail(f"CI=true but PostgreSQL cannot be reached or started at {POSTGRES_ADMIN_URL}")


def create_postgres_database() -> str:
    """A fresh, empty database on the server; returns its URL."""
    require_postgres()
    name = f"webcare_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return re.sub(r"/[^/]*$", f"/{name}", POSTGRES_ADMIN_URL)


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def migrated_database(backend: str, folder: Path) -> Iterator[str]:
    """A new database migrated to head: a file in `folder` on SQLite, a database of its own on PostgreSQL."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'webcare.db'}"
        upgrade(url)
        yield url
        return
    url = create_postgres_database()
    try:
        upgrade(url)
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory) -> Iterator[str]:
    """A database migrated to head, one per backend for the whole session."""
    with migrated_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture(scope="session")
def engine(database_url) -> Iterator[Engine]:
    engine = create_db_engine(Settings(_env_file=None, database_url=database_url))
    yield engine
    engine.dispose()


def empty_tables(engine: Engine) -> None:
    """Every table emptied, the audit trail too: its append-only triggers are set aside in this transaction only."""
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            connection.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            # SQLite cannot disable a trigger: it is dropped and created again from its own SQL.
            triggers = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'")
            ).all()
            for name, _sql in triggers:
                connection.execute(text(f'DROP TRIGGER "{name}"'))
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
            for _name, sql in triggers:
                connection.exec_driver_sql(sql)


@pytest.fixture
def db(engine) -> Engine:
    """The session's database, emptied and loaded with the default configuration for this test."""
    empty_tables(engine)
    with Session(engine) as session:
        apply_config(session, read_config_file())
        session.commit()
    return engine


@pytest.fixture
def session(db) -> Iterator[Session]:
    with Session(db, expire_on_commit=False) as session:
        yield session


# Classifiers --------------------------------------------------------------------------------------


class KeywordClassifier:
    """A deterministic stand-in for tests where the model is not the subject: keywords decide the label."""

    version = "test-keywords"

    def __init__(self, confidence: float = 0.9):
        self.confidence = confidence

    def predict(self, texts: Sequence[str]) -> list[classifier.Prediction]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> classifier.Prediction:
        lowered = text.lower()
        confidence = 0.3 if "unsure" in lowered else self.confidence
        if any(word in lowered for word in ("kapot", "gat", "lantaarn", "afval", "boom")):
            urgent = "over de weg" in lowered
            return classifier.Prediction("public_space_report", confidence, "roads_traffic", urgent, ("kapot",))
        if any(word in lowered for word in ("paspoort", "afspraak", "vergunning", "hoe")):
            return classifier.Prediction("service_question", confidence, None, False, ("paspoort",))
        return classifier.Prediction("communication", confidence, None, False, ())


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> classifier.Classifier:
    """The real classifier, trained once per session on the fixtures (as `make run` does)."""
    if not TRAIN_DATA.exists():
        pytest.fail(f"training data missing: {TRAIN_DATA}")
    return classifier.train(classifier.load_examples(TRAIN_DATA))


# The app ------------------------------------------------------------------------------------------


def make_settings(database_url: str, **overrides) -> Settings:
    # Tests drive the sweeper themselves, with a fixed clock.
    overrides.setdefault("run_worker_in_process", False)
    return Settings(_env_file=None, database_url=database_url, **overrides)


@pytest.fixture
def stand_in() -> KeywordClassifier:
    return KeywordClassifier()


class Clock:
    """The app's notion of now: real time until a test sets it."""

    def __init__(self):
        self.now: datetime | None = None

    def __call__(self) -> datetime:
        return (self.now or utcnow()).astimezone(UTC)

    def set(self, moment: datetime) -> None:
        self.now = moment

    def advance(self, **delta) -> None:
        self.now = self() + timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(db, database_url, stand_in, clock) -> Iterator[TestClient]:
    app = create_app(make_settings(database_url), classifier=stand_in)
    app.dependency_overrides[get_now] = clock
    with TestClient(app) as client:
        yield client


class Users:
    """Users of every role with their bearer headers."""

    def __init__(self, engine: Engine):
        self.headers: dict[str, dict[str, str]] = {}
        with Session(engine) as session:
            for name, role, departments in (
                ("admin", Role.admin, []),
                ("feed", Role.integration, []),
                ("manager", Role.manager, []),
                ("kcc-agent", Role.agent, ["kcc"]),
                ("comms-agent", Role.agent, ["communicatie"]),
            ):
                auth.create_user(session, name, role=role, departments=departments)
                token = auth.create_token(session, name)
                self.headers[name] = {"Authorization": f"Bearer {token}"}
            session.commit()

    def __getitem__(self, name: str) -> dict[str, str]:
        return self.headers[name]


@pytest.fixture
def users(db) -> Users:
    return Users(db)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def run_async(coroutine):
    """asyncio.run in a thread of its own: Playwright's sync API keeps a loop running on the main thread."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
