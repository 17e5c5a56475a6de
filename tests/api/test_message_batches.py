"""A batch of messages does exactly what the same messages one at a time do, and survives a concurrent duplicate."""

import logging
from datetime import UTC, datetime

from sqlmodel import Session, select

from models import Delivery, Message, SlaTarget, Ticket, TicketEvent
from service import ingestion
from service.configuration import apply_config, read_config_file
from tests.conftest import Users, empty_tables

WEDNESDAY = "2026-11-18T10:00:00+01:00"
SATURDAY_NIGHT = "2026-11-21T23:00:00+01:00"
SUNDAY = datetime(2026, 11, 22, 0, 30, tzinfo=UTC)


def message(external_id: str, text: str, author: str = "@anna", **overrides) -> dict:
    return {
        "channel": "x",
        "external_id": external_id,
        "author_handle": author,
        "text": text,
        "sent_at": WEDNESDAY,
        **overrides,
    }


# Stored before the batch: an open ticket that was answered once, and a ticket resolved the day before.
EARLIER = [
    message("old-open", "De lantaarnpaal in de Molenweg 4 is kapot", conversation_id="c-open"),
    message("old-resolved", "Hoe vraag ik een paspoort aan?", author="@bert", conversation_id="c-resolved"),
]
BATCH = [
    message("n1", "Lantaarnpaal kapot op de Kerkstraat 12", author="@a", conversation_id="c1"),
    message("old-open", "the same id as a stored message"),
    message("n2", "nog steeds kapot", conversation_id="c-open", sent_at="2026-11-18T12:00:00+01:00"),
    message("n3", "ik heb nog een vraag over mijn paspoort", author="@bert", conversation_id="c-resolved"),
    message("n4", "en het is nog steeds kapot", author="@a", conversation_id="c1"),
    message("n1", "the same id as a message earlier in this batch", author="@a"),
    message("n5", "hallo? kapot!", author="@a", in_reply_to="n1"),
    message("n6", "Lantaarnpaal kapot bij de Kerkstraat 12", author="@b", in_reply_to="n1"),
    message("n7", "from the future", sent_at="2027-01-01T10:00:00+01:00"),
    message("n8", "Bel me op 06-12345678 over een afspraak voor mijn paspoort", author="@c"),
    message("n9", "Afval gedumpt op het Dorpsplein 3", author="@d", sent_at=SATURDAY_NIGHT),
    message("n10", "Wat een mooie campagne", author="@e", channel="facebook", conversation_id="c1"),
    message("n11", "Er ligt afval op het Dorpsplein 3, graag opruimen", author="@f", sent_at=SATURDAY_NIGHT),
]


def prepare(engine, client, clock) -> Users:
    """An empty database with the configuration, users and the earlier messages (one open, one resolved ticket)."""
    empty_tables(engine)
    with Session(engine) as session:
        apply_config(session, read_config_file())
        session.commit()
    users = Users(engine)
    clock.set(SUNDAY)
    ids = [client.post("/api/v1/messages", json=m, headers=users["feed"]).json()["ticket"]["id"] for m in EARLIER]
    with Session(engine) as session:
        answered, resolved = session.get(Ticket, ids[0]), session.get(Ticket, ids[1])
        answered.first_responded_at = datetime(2026, 11, 18, 9, 30, tzinfo=UTC)
        resolved.status, resolved.resolved_at = "resolved", datetime(2026, 11, 18, 9, 30, tzinfo=UTC)
        session.add_all([answered, resolved])
        session.commit()
    return users


def outcome(answer: dict) -> tuple:
    if "error" in answer:
        return ("error",)
    return (answer["created"], answer["message_id"], answer["ticket"]["id"])


def stored(engine) -> dict[str, list[dict]]:
    """What the pipeline wrote, without the moments taken from the wall clock and the random ids of our own messages."""

    def rows(session, model, *, leave_out=()):
        return [
            row.model_dump(exclude={"created_at", "updated_at", *leave_out})
            for row in session.exec(select(model).order_by(model.id)).all()
        ]

    with Session(engine) as session:
        messages = rows(session, Message)
        for row in messages:
            if row["external_id"].startswith("webcare-"):
                row["external_id"] = "webcare-…"
        return {
            "tickets": rows(session, Ticket),
            "messages": messages,
            "events": rows(session, TicketEvent, leave_out={"at"}),
            "targets": rows(session, SlaTarget),
            "deliveries": rows(session, Delivery),
        }


def test_a_batch_writes_exactly_what_the_same_messages_one_at_a_time_write(client, db, clock, caplog):
    users = prepare(db, client, clock)
    one_by_one = []
    for m in BATCH:
        answer = client.post("/api/v1/messages", json=m, headers=users["feed"]).json()
        one_by_one.append({"error": answer["detail"]} if "detail" in answer else answer)
    expected = stored(db)

    users = prepare(db, client, clock)
    caplog.set_level(logging.INFO, logger=ingestion.__name__)
    answer = client.post("/api/v1/messages/batch", json={"messages": BATCH}, headers=users["feed"])

    assert answer.status_code == 200
    results = answer.json()["results"]
    assert [outcome(r) for r in results] == [outcome(r) for r in one_by_one]
    # The scenario covers what it should: repeats, threads, a reply, a refusal, a duplicate, an acknowledgement.
    assert [r.get("created") for r in results] == [True, False, True, True, True, False, True, True, None] + [True] * 4
    assert stored(db) == expected
    kinds = {e["kind"] for e in expected["events"]}
    assert {"linked_duplicate", "acknowledged", "personal_data_masked", "status_changed", "delivery_queued"} <= kinds
    # Repeats, threads and replies within the batch were found without falling back to one message at a time.
    assert "one at a time" not in caplog.text


def test_a_message_stored_by_another_request_meanwhile_is_answered_as_a_repeat(
    client, users, session, monkeypatch, caplog
):
    first = client.post("/api/v1/messages", json=message("m1", "Lantaarnpaal kapot"), headers=users["feed"]).json()
    # As if another request stored m1 between this batch's look-up and its insert: the look-up does not see it.
    read = ingestion.BatchLookup.read

    def blind(session, batch):
        found = read(session, batch)
        found.messages.clear()
        return found

    monkeypatch.setattr(ingestion.BatchLookup, "read", staticmethod(blind))
    caplog.set_level(logging.INFO, logger=ingestion.__name__)
    batch = [message("m0", "Hoe vraag ik een paspoort aan?", author="@z"), message("m1", "Lantaarnpaal kapot")]
    results = client.post("/api/v1/messages/batch", json={"messages": batch}, headers=users["feed"]).json()["results"]

    assert [r["created"] for r in results] == [True, False]
    assert results[1]["message_id"] == first["message_id"]
    assert results[1]["ticket"]["id"] == first["ticket"]["id"]
    assert len(session.exec(select(Message).where(Message.external_id == "m0")).all()) == 1
    assert len(session.exec(select(Ticket)).all()) == 2
    assert "a batch of 2 messages goes again one at a time (IntegrityError)" in caplog.text
