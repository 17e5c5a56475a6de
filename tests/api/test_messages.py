"""Taking messages in through the API: tickets, deduplication, threading, validation, auth."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import func, select

from models import Message, Ticket, TicketEvent

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def message(external_id="m1", text="Er zit een gat in de weg op de Kerkstraat 12", **overrides) -> dict:
    body = {
        "channel": "x",
        "external_id": external_id,
        "author_handle": "@burger",
        "author_name": "Jan Burger",
        "text": text,
        "sent_at": "2026-11-18T10:00:00+01:00",  # a Wednesday morning
    }
    body.update(overrides)
    return body


def count(session, model) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


def test_a_message_becomes_a_routed_ticket_with_deadlines(client, users):
    response = client.post("/api/v1/messages", json=message(), headers=users["feed"])

    assert response.status_code == 201
    body = response.json()
    assert body["created"] is True
    ticket = body["ticket"]
    assert ticket["category"] == "public_space_report"
    assert ticket["confidence"] == 0.9
    assert ticket["model_version"] == "test-keywords"
    assert ticket["department"] == "kcc"
    assert ticket["priority"] == "normal"
    assert ticket["status"] == "new"
    assert ticket["sla_state"] == "running"
    # Public-space reports: first response in 120 business minutes, KCC open 08:00-20:00 on weekdays.
    assert ticket["first_response_due"] == "2026-11-18T11:00:00Z"
    # Resolution in 2400 business minutes: Wed 10-20 (600), Thu (720), Fri (720), Sat 10:00-16:00 (360).
    assert ticket["resolution_due"] == "2026-11-21T15:00:00Z"


def test_a_repeat_returns_the_same_ticket_and_writes_nothing(client, users, session):
    first = client.post("/api/v1/messages", json=message(), headers=users["feed"]).json()
    before = (count(session, Message), count(session, Ticket), count(session, TicketEvent))

    again = client.post("/api/v1/messages", json=message(text="different text, same id"), headers=users["feed"])

    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["message_id"] == first["message_id"]
    assert again.json()["ticket"]["id"] == first["ticket"]["id"]
    assert (count(session, Message), count(session, Ticket), count(session, TicketEvent)) == before


def test_a_message_in_the_same_conversation_joins_the_open_ticket(client, users):
    first = client.post("/api/v1/messages", json=message("m1", conversation_id="c1"), headers=users["feed"]).json()
    second = client.post(
        "/api/v1/messages",
        json=message("m2", text="nog steeds niet gemaakt!", conversation_id="c1", sent_at="2026-11-18T10:05:00+01:00"),
        headers=users["feed"],
    ).json()

    assert second["created"] is True
    assert second["ticket"]["id"] == first["ticket"]["id"]
    detail = client.get(f"/api/v1/tickets/{first['ticket']['id']}", headers=users["admin"]).json()
    assert [m["external_id"] for m in detail["messages"]] == ["m1", "m2"]


def test_another_citizen_in_the_same_thread_gets_a_ticket_of_their_own(client, users):
    first = client.post("/api/v1/messages", json=message("m1", conversation_id="c1"), headers=users["feed"]).json()
    other = client.post(
        "/api/v1/messages",
        json=message("m2", conversation_id="c1", author_handle="@buurvrouw"),
        headers=users["feed"],
    ).json()

    assert other["ticket"]["id"] != first["ticket"]["id"]


def test_a_reply_on_a_recently_resolved_ticket_reopens_it(client, users, session):
    first = client.post("/api/v1/messages", json=message("m1", conversation_id="c1"), headers=users["feed"]).json()
    ticket = session.get(Ticket, first["ticket"]["id"])
    ticket.status = "resolved"
    ticket.resolved_at = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
    session.add(ticket)
    session.commit()

    reply = client.post(
        "/api/v1/messages",
        json=message("m2", text="het gat is er nog steeds", conversation_id="c1", sent_at="2026-11-20T09:00:00+01:00"),
        headers=users["feed"],
    ).json()

    assert reply["ticket"]["id"] == first["ticket"]["id"]
    assert reply["ticket"]["status"] == "reopened"
    assert reply["ticket"]["opened_at"] == "2026-11-20T08:00:00Z"
    assert reply["ticket"]["first_response_due"] == "2026-11-20T10:00:00Z"


def test_a_reply_long_after_resolution_starts_a_new_ticket(client, users, session):
    first = client.post("/api/v1/messages", json=message("m1", conversation_id="c1"), headers=users["feed"]).json()
    ticket = session.get(Ticket, first["ticket"]["id"])
    ticket.status = "resolved"
    ticket.resolved_at = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    session.add(ticket)
    session.commit()

    reply = client.post("/api/v1/messages", json=message("m2", conversation_id="c1"), headers=users["feed"]).json()

    assert reply["ticket"]["id"] != first["ticket"]["id"]
    assert reply["ticket"]["status"] == "new"


def test_routing_and_targets_are_on_the_timeline(client, users):
    created = client.post("/api/v1/messages", json=message(), headers=users["feed"]).json()
    detail = client.get(f"/api/v1/tickets/{created['ticket']['id']}", headers=users["manager"]).json()

    kinds = [event["kind"] for event in detail["timeline"]]
    assert kinds == ["classified", "routed", "targets_set", "delivery_queued", "message_received"]
    routed = detail["timeline"][1]
    assert routed["data"]["rule"] == "Melding openbare ruimte naar KCC"
    assert routed["data"]["department"] == "kcc"
    assert routed["actor"] == "system"
    assert detail["timeline"][2]["data"]["policy"] == "Melding openbare ruimte"


def test_unsure_classification_goes_to_triage(client, users):
    created = client.post("/api/v1/messages", json=message(text="unsure what this is"), headers=users["feed"])
    assert created.json()["ticket"]["department"] == "triage"


def test_communication_on_friday_evening_is_due_on_monday_in_communications_hours(client, users):
    friday_evening = datetime(2026, 11, 20, 19, 0, tzinfo=AMSTERDAM).isoformat()
    created = client.post(
        "/api/v1/messages",
        json=message(text="Wat een slecht besluit van de raad over het parkeerbeleid", sent_at=friday_evening),
        headers=users["feed"],
    ).json()["ticket"]

    assert created["department"] == "communicatie"
    # 240 business minutes from Monday 08:30 (Communicatie opens): Monday 12:30 Amsterdam.
    due = datetime.fromisoformat(created["first_response_due"]).astimezone(AMSTERDAM)
    assert due == datetime(2026, 11, 23, 12, 30, tzinfo=AMSTERDAM)


def test_a_crisis_signal_outside_communications_hours_goes_to_kcc_urgently(client, users):
    saturday_night = datetime(2026, 11, 21, 23, 0, tzinfo=AMSTERDAM).isoformat()
    created = client.post(
        "/api/v1/messages",
        json=message(text="Enorme rookwolk boven het industrieterrein, is dit giftig??", sent_at=saturday_night),
        headers=users["feed"],
    ).json()["ticket"]

    assert created["category"] == "communication"
    assert (created["department"], created["priority"]) == ("kcc", "urgent")
    # Urgent tickets run on a 24/7 clock: 30 minutes.
    assert created["first_response_due"] == "2026-11-21T22:30:00Z"


def test_the_same_crisis_words_in_office_hours_stay_with_communications(client, users):
    tuesday_morning = datetime(2026, 11, 17, 10, 0, tzinfo=AMSTERDAM).isoformat()
    created = client.post(
        "/api/v1/messages",
        json=message(text="Rookwolk boven het industrieterrein, is dit giftig?", sent_at=tuesday_morning),
        headers=users["feed"],
    ).json()["ticket"]

    assert (created["department"], created["priority"]) == ("communicatie", "normal")


def test_an_urgent_signal_from_the_classifier_raises_priority(client, users):
    created = client.post(
        "/api/v1/messages", json=message(text="Boom ligt over de weg bij de school"), headers=users["feed"]
    ).json()["ticket"]
    assert created["priority"] == "urgent"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 10_001}, "text"),
        ({"channel": "myspace"}, "channel"),
        ({"sent_at": "2026-11-18T10:00:00"}, "sent_at"),
        ({"external_id": ""}, "external_id"),
    ],
)
def test_a_malformed_message_gets_422_naming_the_field(client, users, session, change, field):
    response = client.post("/api/v1/messages", json=message(**change), headers=users["feed"])

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]
    assert count(session, Message) == 0


def test_a_message_from_the_future_is_refused(client, users, session):
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = client.post("/api/v1/messages", json=message(sent_at=future), headers=users["feed"])

    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "sent_at"]
    assert count(session, Ticket) == 0


def test_a_message_from_the_past_is_accepted(client, users):
    response = client.post("/api/v1/messages", json=message(sent_at="2024-04-27T10:00:00+02:00"), headers=users["feed"])
    assert response.status_code == 201


def test_batch_answers_each_message_in_order(client, users, session):
    batch = {
        "messages": [
            message("b1"),
            message("b2", channel="nope"),
            message("b1"),
            message("b3", text="Hoe vraag ik een paspoort aan?", channel="whatsapp"),
        ]
    }
    response = client.post("/api/v1/messages/batch", json=batch, headers=users["feed"])

    assert response.status_code == 200
    results = response.json()["results"]
    assert [r.get("created") for r in results] == [True, None, False, True]
    assert results[1]["error"][0]["loc"] == ["channel"]
    assert results[2]["ticket"]["id"] == results[0]["ticket"]["id"]
    assert results[3]["ticket"]["category"] == "service_question"
    assert count(session, Message) == 2


def test_batch_refuses_more_than_500(client, users):
    response = client.post(
        "/api/v1/messages/batch", json={"messages": [message(f"m{i}") for i in range(501)]}, headers=users["feed"]
    )
    assert response.status_code == 422


def test_anonymous_and_bad_tokens_get_401(client):
    assert client.post("/api/v1/messages", json=message()).status_code == 401
    bad = {"Authorization": "Bearer wcr_not-a-real-token"}
    assert client.post("/api/v1/messages", json=message(), headers=bad).status_code == 401
    assert client.get("/api/v1/tickets").status_code == 401
    assert client.get("/api/v1/departments").status_code == 401


def test_agents_cannot_feed_messages(client, users):
    assert client.post("/api/v1/messages", json=message(), headers=users["kcc-agent"]).status_code == 403
