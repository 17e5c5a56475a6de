"""The outbox through the API (lists, manual retry, a ticket's deliveries), duplicates and WhatsApp's reply window."""

from sqlmodel import Session, select

from models import Delivery, TicketEvent
from service.db import session_scope
from tests.api.test_queue import at, post


def saturday_report(client, users, clock, external_id="n1", text="Lantaarnpaal kapot bij de speeltuin"):
    clock.set(at(21, 23, 0))
    return post(client, users, external_id, text, at(21, 23))


def set_state(db, delivery_id: int, **fields) -> None:
    with session_scope(db) as session:
        delivery = session.get(Delivery, delivery_id)
        for key, value in fields.items():
            setattr(delivery, key, value)
        session.add(delivery)


def test_managers_and_admins_list_deliveries_by_status_and_ticket(client, users, clock, db):
    first = saturday_report(client, users, clock, "n1")
    second = saturday_report(client, users, clock, "n2", "Afval naast de container")
    listed = client.get("/api/v1/deliveries", headers=users["manager"]).json()
    assert listed["count"] == 6  # two reports and one acknowledgement per ticket
    dead_id = listed["data"][0]["id"]
    set_state(db, dead_id, status="dead", attempts=8, last_error="HTTP 500: kapot")

    dead = client.get("/api/v1/deliveries", params={"status": "dead"}, headers=users["admin"]).json()
    assert (dead["count"], [d["id"] for d in dead["data"]]) == (1, [dead_id])
    assert dead["data"][0]["last_error"] == "HTTP 500: kapot"
    of_first = client.get("/api/v1/deliveries", params={"ticket_id": first["id"]}, headers=users["manager"]).json()
    assert sorted((d["kind"], d["target"]) for d in of_first["data"]) == [
        ("acknowledgement", "x"),
        ("report", "buiten_kantoortijd"),
        ("report", "openbare_ruimte"),
    ]
    assert {d["ticket_id"] for d in of_first["data"]} == {first["id"]}
    assert second["id"] != first["id"]
    for who in ("kcc-agent", "feed"):
        assert client.get("/api/v1/deliveries", headers=users[who]).status_code == 403


def test_a_dead_delivery_is_retried_by_hand_with_its_history_kept(client, users, clock, db):
    ticket = saturday_report(client, users, clock)
    with Session(db) as session:
        report = session.exec(select(Delivery).where(Delivery.target == "openbare_ruimte")).one()
    set_state(db, report.id, status="dead", attempts=8, last_error="HTTP 500: Internal Server Error")
    clock.set(at(22, 9, 0))

    response = client.post(f"/api/v1/deliveries/{report.id}/retry", headers=users["manager"])

    assert response.status_code == 200, response.text
    retried = response.json()
    assert (retried["status"], retried["attempts"], retried["next_attempt_at"]) == (
        "pending",
        0,
        "2026-11-22T08:00:00Z",
    )
    assert retried["last_error"] == "retried by manager after 8 attempt(s); last error: HTTP 500: Internal Server Error"
    with Session(db) as session:
        event = session.exec(select(TicketEvent).where(TicketEvent.kind == "delivery_retried")).one()
    assert (event.ticket_id, event.actor, event.data) == (
        ticket["id"],
        "manager",
        {
            "delivery_id": report.id,
            "kind": "report",
            "target": "openbare_ruimte",
            "attempts": 8,
            "last_error": "HTTP 500: Internal Server Error",
        },
    )


def test_only_dead_or_waiting_deliveries_can_be_retried_and_only_by_managers_and_admins(client, users, clock, db):
    saturday_report(client, users, clock)
    with Session(db) as session:
        ids = session.exec(select(Delivery.id).order_by(Delivery.id)).all()
    set_state(db, ids[0], status="delivered")
    set_state(db, ids[1], status="sending")

    assert client.post(f"/api/v1/deliveries/{ids[0]}/retry", headers=users["admin"]).status_code == 409
    busy = client.post(f"/api/v1/deliveries/{ids[1]}/retry", headers=users["admin"])
    assert (busy.status_code, busy.json()["detail"]) == (
        409,
        f"delivery {ids[1]} is sending: only dead or pending deliveries can be retried",
    )
    assert client.post("/api/v1/deliveries/999999/retry", headers=users["admin"]).status_code == 404
    assert client.post(f"/api/v1/deliveries/{ids[2]}/retry", headers=users["kcc-agent"]).status_code == 403
    assert client.post(f"/api/v1/deliveries/{ids[2]}/retry", headers=users["admin"]).status_code == 200


def test_a_tickets_deliveries_are_shown_to_those_who_may_see_the_ticket(client, users, clock):
    ticket = saturday_report(client, users, clock)
    url = f"/api/v1/tickets/{ticket['id']}/deliveries"

    mine = client.get(url, headers=users["kcc-agent"])
    assert mine.status_code == 200
    assert mine.json()["count"] == 3
    assert {d["status"] for d in mine.json()["data"]} == {"pending"}
    assert client.get(url, headers=users["comms-agent"]).status_code == 403
    assert client.get("/api/v1/tickets/999999/deliveries", headers=users["admin"]).status_code == 404


def test_a_second_report_of_the_same_fault_is_linked_to_the_first(client, users, clock, db):
    clock.set(at(18, 12))
    first = post(client, users, "d1", "Gat in de weg op de Kerkstraat 12", at(18, 10))
    other_street = post(client, users, "d2", "Gat in de weg op de Dorpsstraat 3", at(18, 10, 30))
    same_place = post(client, users, "d3", "Fietser gevallen, kapot wegdek Kerkstraat 12!", at(18, 11))
    question = post(client, users, "d4", "Hoe vraag ik een paspoort aan?", at(18, 11))

    assert [t["duplicate_of_id"] for t in (first, other_street, same_place, question)] == [
        None,
        None,
        first["id"],
        None,
    ]
    detail = client.get(f"/api/v1/tickets/{same_place['id']}", headers=users["admin"]).json()
    assert detail["duplicate_of_id"] == first["id"]
    with Session(db) as session:
        links = session.exec(select(TicketEvent).where(TicketEvent.kind == "linked_duplicate")).all()
    assert sorted((e.ticket_id, e.data) for e in links) == sorted(
        [
            (same_place["id"], {"duplicate_of": first["id"], "reason": "same address"}),
            (first["id"], {"duplicate": same_place["id"], "reason": "same address"}),
        ]
    )


def test_only_reports_within_48_hours_of_the_first_are_linked_to_it(client, users, clock):
    clock.set(at(20, 12))
    first = post(client, users, "d1", "Lantaarnpaal kapot bij de speeltuin", at(18, 10))
    late = post(client, users, "d2", "Lantaarnpaal bij de speeltuin kapot", at(20, 10, 1))
    assert late["duplicate_of_id"] is None
    within = post(client, users, "d3", "De lantaarnpaal bij de speeltuin is kapot", at(19, 10))
    assert within["duplicate_of_id"] == first["id"]


def test_whatsapp_tickets_show_when_the_reply_window_closes(client, users, clock):
    clock.set(at(18, 12))
    whatsapp = post(client, users, "w1", "Hoe vraag ik een paspoort aan?", at(18, 10), channel="whatsapp")
    post(
        client,
        users,
        "w2",
        "En een rijbewijs?",
        at(18, 11, 15),
        channel="whatsapp",
        conversation_id="31612345678",
        in_reply_to="w1",
        author_handle="@burger",
    )
    tweet = post(client, users, "x1", "Hoe vraag ik een paspoort aan?", at(18, 10))

    detail = client.get(f"/api/v1/tickets/{whatsapp['id']}", headers=users["admin"]).json()
    assert len(detail["messages"]) == 2
    assert detail["reply_window_closes_at"] == "2026-11-19T10:15:00Z"  # 24 h after the citizen's last message
    assert client.get(f"/api/v1/tickets/{tweet['id']}", headers=users["admin"]).json()["reply_window_closes_at"] is None
