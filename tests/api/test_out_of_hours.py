"""Out of office hours: a report is queued for the out-of-hours intake and the citizen hears when we answer."""

from sqlmodel import Session, select

from models import Delivery
from tests.api.test_queue import at, post


def test_a_saturday_night_report_is_queued_for_the_intake_with_an_acknowledgement(client, users, clock, db):
    clock.set(
        at(
            21,
            23,
            0,
        )
    )
    created = post(client, users, "n1", "Lantaarnpaal kapot bij de speeltuin", at(21, 23))

    assert created["department"] == "kcc"
    assert created["first_response_due"] == "2026-11-23T09:00:00Z"  # Monday 10:00: KCC opens at 8, 120 minutes
    assert created["first_responded_at"] is None  # an acknowledgement is not an answer
    with Session(db) as session:
        deliveries = session.exec(select(Delivery).order_by(Delivery.target)).all()
    assert [(d.kind, d.target, d.status) for d in deliveries] == [
        ("report", "buiten_kantoortijd", "pending"),
        ("report", "openbare_ruimte", "pending"),
        ("acknowledgement", "x", "pending"),
    ]
    report = deliveries[0].payload
    assert (report["ticket_id"], report["category"], report["text"]) == (
        created["id"],
        "public_space_report",
        "Lantaarnpaal kapot bij de speeltuin",
    )
    detail = client.get(f"/api/v1/tickets/{created['id']}", headers=users["admin"]).json()
    acknowledgement = [m for m in detail["messages"] if m["direction"] == "outbound"]
    assert [m["text"] for m in acknowledgement] == [
        "We hebben je bericht ontvangen. Vóór maandag 23 november, 10.00 uur reageren we."
    ]


def test_in_office_hours_the_report_goes_only_to_the_public_space_system(client, users, clock, db):
    clock.set(at(18, 10, 1))
    post(client, users, "d1", "Lantaarnpaal kapot bij de speeltuin", at(18, 10))
    with Session(db) as session:
        assert session.exec(select(Delivery.target)).all() == ["openbare_ruimte"]


def test_a_reply_is_queued_for_sending_back_through_the_channel(client, users, clock, db):
    clock.set(at(18, 10, 1))
    ticket = post(client, users, "d1", "Hoe vraag ik een paspoort aan?", at(18, 10))
    client.post(
        f"/api/v1/tickets/{ticket['id']}/replies",
        json={"text": "Via de website, met DigiD.", "version": ticket["version"]},
        headers=users["kcc-agent"],
    )
    with Session(db) as session:
        replies = session.exec(select(Delivery).where(Delivery.kind == "reply")).all()
    assert [(d.target, d.payload["text"], d.payload["to"]) for d in replies] == [
        ("x", "Via de website, met DigiD.", "@burger")
    ]
