"""`webcare privacy export|erase` and the command line's audit trail, against both databases."""

import json
import stat
from dataclasses import dataclass

import pytest
from sqlmodel import Session, select

from models import AuditEvent, Message, Ticket
from service import cli
from service.settings import get_settings
from tests.api.test_privacy_flow import MASKED, PERSONAL, TEXT, resolve
from tests.api.test_queue import at, post


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(database_url, monkeypatch, capsys):
    """`webcare ARGS` in this process (a new interpreter takes seconds to import the classifier's stack)."""
    monkeypatch.setenv("WEBCARE_DATABASE_URL", database_url)
    get_settings.cache_clear()

    def run(*args: str) -> Ran:
        capsys.readouterr()
        code = cli.main(list(args))
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    yield run
    get_settings.cache_clear()


def cli_trail(db) -> list[tuple]:
    with Session(db) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.username == "cli").order_by(AuditEvent.id)).all()
    return [(e.action, e.object_type, {k: v for k, v in e.detail.items() if k != "os_user"}) for e in events]


def test_export_writes_a_private_file_and_erase_asks_first(client, users, db, clock, run, tmp_path):
    clock.set(at(18, 10, 5))
    ticket = post(client, users, "a1", TEXT, at(18, 10))
    post(client, users, "b1", "Boom kapot", at(18, 10), author_handle="@anders")

    out = tmp_path / "burger.json"
    exported = run("privacy", "export", "--handle", "@burger", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    document = json.loads(out.read_text())
    assert [t["id"] for t in document["tickets"]] == [ticket["id"]]
    assert [m["text"] for m in document["tickets"][0]["messages"]] == [MASKED]
    printed = run("privacy", "export", "--handle", "@burger", "--channel", "x")
    assert [t["id"] for t in json.loads(printed.stdout)["tickets"]] == [ticket["id"]]

    still_open = run("privacy", "erase", "--handle", "@burger", "--yes")
    assert still_open.returncode == 2
    assert "open_ticket_ids" in still_open.stderr
    resolve(client, users, ticket, clock, at(18, 11))
    unconfirmed = run("privacy", "erase", "--handle", "@burger")
    assert unconfirmed.returncode == 1
    assert "1 ticket(s) and 1 message(s) will be anonymised" in unconfirmed.stderr
    erased = run("privacy", "erase", "--handle", "@burger", "--yes")
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout)["tickets"] == 1

    with Session(db) as session:
        remaining = session.exec(select(Ticket.author_handle).order_by(Ticket.id)).all()
        texts = session.exec(select(Message.text).order_by(Message.id)).all()
    assert remaining == ["[geanonimiseerd]", "@anders"]
    assert texts == ["[verwijderd op verzoek]", "Boom kapot"]
    assert [(action, kind) for action, kind, _detail in cli_trail(db)] == [
        ("export", "citizen"),
        ("export", "citizen"),
        ("erase", "citizen"),
    ]
    assert all(value not in str(cli_trail(db)) for value in (*PERSONAL.values(), "@burger"))


def test_configuration_users_and_tokens_from_the_command_line_are_recorded(db, run):
    assert run("seed").returncode == 0
    created = run("create-user", "bea", "--role", "agent", "--department", "kcc")
    assert created.returncode == 0, created.stderr
    token = run("create-token", "bea", "--days", "30")
    assert token.returncode == 0, token.stderr

    trail = cli_trail(db)
    assert [(action, kind) for action, kind, _detail in trail] == [
        ("apply_config", "configuration"),
        ("create", "user"),
        ("create", "token"),
    ]
    assert trail[1][2] == {"username": "bea", "role": "agent", "departments": ["kcc"]}
    assert trail[2][2] == {"username": "bea", "days": 30, "scopes": []}
    assert token.stdout.strip() not in str(trail)
