"""Privacy by design: masking before storage, kept originals, retention, and a citizen's export and erasure."""

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlmodel import Session, select

from models import (
    AuditEvent,
    Delivery,
    LabelledExample,
    Message,
    Role,
    Ticket,
    TicketEvent,
    TicketStatus,
    WebhookEvent,
)
from service import auth, crypto, retention, worker
from service.app import create_app
from service.deps import get_now
from service.settings import Settings
from tests.api.test_queue import at, post
from tests.conftest import make_settings

SECRET = "a-test-secret-key-that-is-long-enough-0123456789"
PERSONAL = {
    "bsn": "123456782",
    "iban": "NL91ABNA0417164300",
    "phone": "06-12345678",
    "email": "jan.burger@example.nl",
}
TEXT = (
    f"Lantaarnpaal kapot. Mijn BSN is {PERSONAL['bsn']}, IBAN {PERSONAL['iban']}, "
    f"bel {PERSONAL['phone']} of mail {PERSONAL['email']}"
)
MASKED = "Lantaarnpaal kapot. Mijn BSN is [BSN], IBAN [IBAN], bel [TELEFOONNUMMER] of mail [E-MAILADRES]"
PERMALINK = "https://x.com/burger/status/1"


def dump(rows) -> str:
    """Every column of every row, as one string to search for personal data."""
    return json.dumps([row.model_dump(mode="json") for row in rows], ensure_ascii=False)


def rows(db, model, *conditions) -> list:
    with Session(db) as session:
        return list(session.exec(select(model).where(*conditions).order_by(model.id)).all())


def audit_trail(db, **where) -> list[tuple]:
    conditions = [getattr(AuditEvent, key) == value for key, value in where.items()]
    return [
        (e.username, e.action, e.object_type, e.object_id)
        for e in rows(db, AuditEvent, *conditions)
        if e.object_type != "session"
    ]


@pytest.fixture
def keeping(db, database_url, stand_in, clock):
    """An app that keeps the originals (encrypted), and its settings."""
    settings = make_settings(database_url, keep_original_text=True, secret_key=SECRET)
    app = create_app(settings, classifier=stand_in)
    app.dependency_overrides[get_now] = clock
    with TestClient(app) as client:
        yield client, settings


@pytest.fixture
def anna(db) -> str:
    """A KCC agent's web session cookie."""
    with Session(db) as session:
        auth.create_user(session, "anna", role=Role.agent, departments=["kcc"], password="correct horse battery")
        session.commit()
        token, _ = auth.log_in(session, "anna", "correct horse battery", now=at(17, 22))
        session.commit()
    return token


# Masking ---------------------------------------------------------------------------------------------


def test_personal_data_is_masked_in_the_database_the_api_and_the_ticket_page(client, users, db, clock, anna):
    clock.set(at(17, 21, 5))
    # Tuesday 21:00, outside KCC hours: the report is also delivered onwards and acknowledged.
    ticket = post(client, users, "pii", TEXT, at(17, 21), permalink=PERMALINK)

    (message,) = rows(db, Message, Message.direction == "inbound")
    assert (message.text, message.original_text_encrypted) == (MASKED, None)
    masked_events = rows(db, TicketEvent, TicketEvent.kind == "personal_data_masked")
    assert [e.data for e in masked_events] == [
        {"message_id": message.id, "found": {"bsn": 1, "email": 1, "iban": 1, "phone": 1}}
    ]
    reports = [d.payload for d in rows(db, Delivery, Delivery.kind == "report")]
    assert [(p["text"], p["permalink"]) for p in reports] == [(MASKED, PERMALINK), (MASKED, PERMALINK)]
    stored = dump(rows(db, Message) + rows(db, Ticket) + rows(db, TicketEvent) + rows(db, Delivery))

    detail = client.get(f"/api/v1/tickets/{ticket['id']}", headers=users["admin"])
    listed = client.get("/api/v1/tickets", headers=users["admin"])
    client.cookies.set(auth.SESSION_COOKIE, anna)
    page = client.get(f"/tickets/{ticket['id']}")
    client.cookies.clear()

    assert detail.json()["messages"][0]["text"] == MASKED
    assert listed.json()["data"][0]["preview"] == MASKED
    assert page.status_code == 200
    for value in PERSONAL.values():
        for where, text in (("database", stored), ("API", detail.text + listed.text), ("page", page.text)):
            assert value not in text, (value, where)


def test_a_message_without_personal_data_is_stored_as_written(keeping, users, db):
    client, _settings = keeping
    post(client, users, "plain", "Lantaarnpaal kapot in de Kerkstraat", at(18, 10))

    (message,) = rows(db, Message)
    assert (message.text, message.original_text_encrypted) == ("Lantaarnpaal kapot in de Kerkstraat", None)
    assert rows(db, TicketEvent, TicketEvent.kind == "personal_data_masked") == []


# Kept originals --------------------------------------------------------------------------------------


def test_a_kept_original_is_encrypted_and_only_an_admin_reads_it_which_is_audited(keeping, users, db, clock):
    client, settings = keeping
    clock.set(at(18, 10, 5))
    post(client, users, "pii", TEXT, at(18, 10))
    (message,) = rows(db, Message)
    assert message.text == MASKED
    assert all(value not in message.original_text_encrypted for value in PERSONAL.values())
    assert crypto.decrypt(settings, message.original_text_encrypted) == TEXT

    url = f"/api/v1/messages/{message.id}/original"
    refused = {name: client.get(url, headers=users[name]).status_code for name in ("kcc-agent", "manager", "feed")}
    assert refused == {"kcc-agent": 403, "manager": 403, "feed": 403}
    assert audit_trail(db, action="read_original") == []

    answer = client.get(url, headers=users["admin"])
    assert answer.status_code == 200
    assert answer.json() == {"message_id": message.id, "text": TEXT}
    assert audit_trail(db, action="read_original") == [("admin", "read_original", "message", str(message.id))]
    assert client.get("/api/v1/messages/999999/original", headers=users["admin"]).status_code == 404


def test_keeping_originals_without_a_secret_key_refuses_to_start():
    with pytest.raises(ValidationError, match="WEBCARE_KEEP_ORIGINAL_TEXT needs WEBCARE_SECRET_KEY"):
        Settings(_env_file=None, keep_original_text=True)


def test_an_original_cannot_be_read_with_another_secret_key():
    token = crypto.encrypt(Settings(_env_file=None, secret_key=SECRET), TEXT)
    with pytest.raises(crypto.CannotDecrypt):
        crypto.decrypt(Settings(_env_file=None, secret_key=SECRET + "-rotated"), token)


# Retention -------------------------------------------------------------------------------------------


def close(client, users, ticket: dict, clock, moment) -> None:
    clock.set(moment)
    version = client.get(f"/api/v1/tickets/{ticket['id']}", headers=users["admin"]).json()["version"]
    closed = client.patch(
        f"/api/v1/tickets/{ticket['id']}", json={"version": version, "status": "closed"}, headers=users["admin"]
    )
    assert closed.status_code == 200, closed.text


def test_retention_anonymises_a_closed_ticket_past_its_period_and_leaves_a_younger_one(keeping, users, db, clock):
    client, settings = keeping
    clock.set(at(17, 21, 5))
    old = post(client, users, "old", TEXT, at(17, 21), permalink=PERMALINK)
    note = client.post(
        f"/api/v1/tickets/{old['id']}/notes", json={"text": "Jan belde nog: 06 98765432"}, headers=users["admin"]
    )
    assert note.status_code == 201
    close(client, users, old, clock, at(18, 9))
    clock.set(at(18, 10, 5))
    young = post(client, users, "young", TEXT, at(18, 10), author_handle="@anders", author_name="Piet Anders")
    close(client, users, young, clock, at(20, 9))

    now = at(18, 9) + timedelta(days=365, hours=1)  # the young one has two days to go
    assert retention.run_retention(db, settings, now=now) == {
        "closed": 0,
        "anonymized": 1,
        "webhook_payloads_emptied": 0,
    }

    (ticket,) = rows(db, Ticket, Ticket.id == old["id"])
    assert (ticket.author_handle, ticket.author_name, ticket.conversation_id) == (
        "[geanonimiseerd]",
        "[geanonimiseerd]",
        None,
    )
    assert ticket.anonymized_at == now
    messages = rows(db, Message, Message.ticket_id == old["id"])
    inbound = [m for m in messages if m.direction == "inbound"]
    assert [(m.author_handle, m.author_name, m.text, m.permalink, m.original_text_encrypted) for m in inbound] == [
        ("[geanonimiseerd]", "[geanonimiseerd]", MASKED, None, None)
    ]
    assert inbound[0].external_id == f"anon-{inbound[0].id}"
    # The acknowledgement went to the citizen: its delivery no longer says where.
    assert {d.payload.get("to") for d in rows(db, Delivery, Delivery.kind == "acknowledgement")} == {"[geanonimiseerd]"}
    timeline = rows(db, TicketEvent, TicketEvent.ticket_id == old["id"])
    assert [e.data["text"] for e in timeline if e.kind == "note"] == ["[geanonimiseerd] belde nog: [TELEFOONNUMMER]"]
    # The staff who worked it stay on record.
    assert [e.actor for e in timeline if e.kind == "note"] == ["admin"]
    (anonymized,) = [e for e in timeline if e.kind == "anonymized"]
    assert anonymized.data == {
        "reason": "retention",
        "messages": 2,
        "masked": 0,  # masked on the way in already
        "originals_removed": 1,
        "timeline_entries": 1,
        "deliveries": 3,
    }
    (trail,) = rows(db, AuditEvent, AuditEvent.action == "anonymize")
    assert (trail.username, trail.object_type, trail.object_id) == ("system", "ticket", str(old["id"]))
    assert trail.detail == {"retention_days": 365, **anonymized.data}
    everything = dump(messages + [ticket] + timeline + rows(db, Delivery, Delivery.ticket_id == old["id"]))
    for value in (*PERSONAL.values(), "@burger", "Jan", "Burger", PERMALINK, "06 98765432"):
        assert value not in everything, value

    (kept,) = rows(db, Ticket, Ticket.id == young["id"])
    assert (kept.author_handle, kept.author_name, kept.anonymized_at) == ("@anders", "Piet Anders", None)
    assert [m.original_text_encrypted is not None for m in rows(db, Message, Message.ticket_id == young["id"])] == [
        True
    ]
    # A second run has nothing left to do.
    assert retention.run_retention(db, settings, now=now)["anonymized"] == 0


def resolve(client, users, ticket: dict, clock, moment) -> None:
    clock.set(moment)
    version = client.get(f"/api/v1/tickets/{ticket['id']}", headers=users["admin"]).json()["version"]
    resolved = client.patch(
        f"/api/v1/tickets/{ticket['id']}",
        json={"version": version, "status": "resolved", "outcome": "answered"},
        headers=users["admin"],
    )
    assert resolved.status_code == 200, resolved.text


def test_the_worker_closes_tickets_resolved_too_long_ago_at_most_once_an_hour(client, users, db, clock):
    settings = make_settings(client.app.state.settings.database_url)
    first = post(client, users, "a", "Lantaarnpaal kapot", at(18, 10))
    second = post(client, users, "b", "Stoeptegel kapot", at(18, 10))
    resolve(client, users, first, clock, at(18, 11))
    resolve(client, users, second, clock, at(19, 11))
    worker._retention_runs.clear()

    # 14 days after the first was resolved (and not yet the second): only the first is closed.
    worker.run_jobs(db, settings, now=lambda: at(18, 11) + timedelta(days=14, minutes=1))
    statuses = {t.id: t.status for t in rows(db, Ticket)}
    assert statuses == {first["id"]: TicketStatus.closed, second["id"]: TicketStatus.resolved}
    (closing,) = rows(db, TicketEvent, TicketEvent.ticket_id == first["id"], TicketEvent.kind == "status_changed")[-1:]
    assert closing.data == {"from": "resolved", "to": "closed", "reason": "resolved more than 14 days ago"}
    assert audit_trail(db, action="close") == [("system", "close", "ticket", str(first["id"]))]

    # A round later the same hour, the second is due as well, but retention waits for its hour.
    worker.run_jobs(db, settings, now=lambda: at(19, 11) + timedelta(days=15))
    assert {t.id: t.status for t in rows(db, Ticket)}[second["id"]] == TicketStatus.resolved
    worker._retention_runs.clear()  # the hour has passed
    worker.run_jobs(db, settings, now=lambda: at(19, 11) + timedelta(days=15))
    assert {t.id: t.status for t in rows(db, Ticket)}[second["id"]] == TicketStatus.closed


def test_raw_webhook_bodies_are_emptied_a_day_after_processing(client, db):
    settings = make_settings(client.app.state.settings.database_url)
    with Session(db) as session:
        for number, processed in enumerate((at(18, 10), at(19, 10), None)):
            session.add(
                WebhookEvent(
                    source="x",
                    body_sha256=f"{number:064d}",
                    payload={"text": TEXT},
                    received_at=at(18, 10),
                    processed_at=processed,
                )
            )
        session.commit()

    assert retention.run_retention(db, settings, now=at(19, 10, 1))["webhook_payloads_emptied"] == 1
    assert [e.payload == {} for e in rows(db, WebhookEvent)] == [True, False, False]


# A citizen's export and erasure ----------------------------------------------------------------------


def two_tickets_and_a_stranger(client, users, clock) -> tuple[dict, dict, dict]:
    clock.set(at(18, 10, 5))
    first = post(client, users, "a1", TEXT, at(18, 10), permalink=PERMALINK, conversation_id="c1")
    second = post(client, users, "a2", "Hoe vraag ik een paspoort aan?", at(18, 10), conversation_id="c2")
    stranger = post(client, users, "s1", "Boom kapot", at(18, 10), author_handle="@anders", author_name="Piet")
    clock.set(at(18, 11))
    version = client.get(f"/api/v1/tickets/{second['id']}", headers=users["admin"]).json()["version"]
    reply = client.post(
        f"/api/v1/tickets/{second['id']}/replies",
        json={"text": "Beste Jan, maak een afspraak via de website.", "version": version},
        headers=users["admin"],
    )
    assert reply.status_code == 201, reply.text
    correction = client.patch(
        f"/api/v1/tickets/{first['id']}",
        json={"version": version_of(client, users, first), "category": "service_question"},
        headers=users["admin"],
    )
    assert correction.status_code == 200, correction.text
    return first, second, stranger


def version_of(client, users, ticket) -> int:
    return client.get(f"/api/v1/tickets/{ticket['id']}", headers=users["admin"]).json()["version"]


def test_export_returns_everything_stored_about_a_handle(client, users, db, clock):
    first, second, _stranger = two_tickets_and_a_stranger(client, users, clock)

    answer = client.get("/api/v1/privacy/export", params={"handle": "@burger"}, headers=users["admin"])

    assert answer.status_code == 200
    document = answer.json()
    assert (document["handle"], document["channel"]) == ("@burger", None)
    assert [t["id"] for t in document["tickets"]] == [first["id"], second["id"]]
    assert [t["author_name"] for t in document["tickets"]] == ["Jan Burger", "Jan Burger"]
    by_id = {t["id"]: t for t in document["tickets"]}
    assert [(m["direction"], m["text"]) for m in by_id[second["id"]]["messages"]] == [
        ("inbound", "Hoe vraag ik een paspoort aan?"),
        ("outbound", "Beste Jan, maak een afspraak via de website."),
    ]
    assert [m["permalink"] for m in by_id[first["id"]]["messages"]] == [PERMALINK]
    for ticket in document["tickets"]:
        stored = rows(db, TicketEvent, TicketEvent.ticket_id == ticket["id"])
        assert [e["kind"] for e in ticket["timeline"]] == [e.kind for e in stored]
        assert [d["id"] for d in ticket["deliveries"]] == [
            d.id for d in rows(db, Delivery, Delivery.ticket_id == ticket["id"])
        ]
    assert [e["text"] for e in by_id[first["id"]]["training_examples"]] == [MASKED]
    assert document["messages_on_other_tickets"] == []
    assert audit_trail(db, action="export") == [("admin", "export", "citizen", None)]
    (trail,) = rows(db, AuditEvent, AuditEvent.action == "export")
    assert trail.detail == {"channel": None, "ticket_ids": [first["id"], second["id"]], "messages": 3}
    assert "@burger" not in json.dumps(trail.detail)

    only_x = client.get(
        "/api/v1/privacy/export", params={"handle": "@burger", "channel": "facebook"}, headers=users["admin"]
    )
    assert only_x.json()["tickets"] == []


def test_erase_leaves_nothing_personal_about_the_handle(client, users, db, clock):
    first, second, stranger = two_tickets_and_a_stranger(client, users, clock)
    with Session(db) as session:
        session.add(WebhookEvent(source="x", body_sha256="f" * 64, payload={"user": {"screen_name": "burger"}}))
        session.commit()

    refused = client.post("/api/v1/privacy/erase", json={"handle": "@burger"}, headers=users["admin"])
    assert refused.status_code == 409
    assert refused.json()["detail"]["open_ticket_ids"] == [first["id"], second["id"]]

    resolve(client, users, first, clock, at(18, 12))
    resolve(client, users, second, clock, at(18, 12))
    erased = client.post("/api/v1/privacy/erase", json={"handle": "@burger"}, headers=users["admin"])

    assert erased.status_code == 200, erased.text
    assert erased.json() == {
        "tickets": 2,
        "messages": 3,
        "masked": 0,  # masked on the way in already
        "originals_removed": 0,
        "deliveries": 2,
        "training_examples": 1,
        "webhook_events": 1,
    }
    ids = [first["id"], second["id"]]
    messages = rows(db, Message, Message.ticket_id.in_(ids))
    tickets = rows(db, Ticket, Ticket.id.in_(ids))
    assert {m.text for m in messages} == {"[verwijderd op verzoek]"}
    assert {(t.author_handle, t.author_name) for t in tickets} == {("[geanonimiseerd]", "[geanonimiseerd]")}
    assert rows(db, LabelledExample) == []
    # Every text column of every row about the handle: nothing of the citizen is left.
    everything = dump(
        messages
        + tickets
        + rows(db, TicketEvent, TicketEvent.ticket_id.in_(ids))
        + rows(db, Delivery, Delivery.ticket_id.in_(ids))
        + rows(db, WebhookEvent)
        + rows(db, AuditEvent)
    )
    for value in (*PERSONAL.values(), "burger", "Jan", PERMALINK, "Beste", '"c1"', '"c2"'):
        assert value not in everything, value
    # The other citizen is untouched.
    (other,) = rows(db, Ticket, Ticket.id == stranger["id"])
    assert (other.author_handle, other.anonymized_at) == ("@anders", None)
    assert [m.text for m in rows(db, Message, Message.ticket_id == stranger["id"])] == ["Boom kapot"]
    assert audit_trail(db, action="erase") == [("admin", "erase", "citizen", None)]

    again = client.get("/api/v1/privacy/export", params={"handle": "@burger"}, headers=users["admin"]).json()
    assert (again["tickets"], again["webhook_events"]) == ([], [])


def test_only_admins_may_use_the_privacy_and_audit_apis(client, users):
    calls = [
        ("GET", "/api/v1/privacy/export?handle=@burger", None),
        ("POST", "/api/v1/privacy/erase", {"handle": "@burger"}),
        ("GET", "/api/v1/audit", None),
        ("GET", "/api/v1/audit.csv", None),
        ("GET", "/api/v1/messages/1/original", None),
    ]
    for name in ("kcc-agent", "comms-agent", "manager", "feed"):
        for method, path, body in calls:
            response = client.request(method, path, json=body, headers=users[name])
            assert response.status_code == 403, (name, method, path, response.status_code)
    for method, path, body in calls:
        assert client.request(method, path, json=body).status_code == 401, (method, path)
