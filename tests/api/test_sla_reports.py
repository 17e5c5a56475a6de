"""SLA states and events with a fixed clock, and the report figures against hand-computed values."""

import csv
import io

from sqlmodel import Session, select

from models import ResponseFact, TicketEvent
from service.worker import sweep_once
from tests.api.test_queue import at, post


def sweep(db, moment):
    return sweep_once(db, now=moment)


def ticket(client, users, ticket_id):
    return client.get(f"/api/v1/tickets/{ticket_id}", headers=users["admin"]).json()


def reply(client, users, ticket_id, text="Dank je, we pakken het op."):
    current = ticket(client, users, ticket_id)
    response = client.post(
        f"/api/v1/tickets/{ticket_id}/replies",
        json={"text": text, "version": current["version"]},
        headers=users["kcc-agent"],
    )
    assert response.status_code == 201, response.text
    return response.json()


def events(db, ticket_id, kind):
    with Session(db) as session:
        query = select(TicketEvent).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == kind)
        return session.exec(query).all()


def build_week(client, users, clock, db):
    """Three tickets, answered at known moments (see the module's tests for the arithmetic)."""
    clock.set(at(17, 19, 0))
    t2 = post(client, users, "t2", "Hoe vraag ik een paspoort aan?", at(17, 19))  # KCC, 240 min: due Wed 11:00
    clock.set(at(18, 10, 0))
    t1 = post(client, users, "t1", "Lantaarnpaal kapot", at(18, 10), conversation_id="c1")  # KCC, 120: due 12:00
    t3 = post(client, users, "t3", "Mooie actie, complimenten!", at(18, 10))  # Communicatie, 240
    clock.set(at(18, 9))
    reply(client, users, t2["id"])  # 14 h on the calendar, 120 business minutes
    clock.set(at(18, 10, 30))
    client.post(
        f"/api/v1/tickets/{t3['id']}/replies",
        json={"text": "Dank je wel!", "version": ticket(client, users, t3["id"])["version"]},
        headers=users["comms-agent"],
    )
    return t1, t2, t3


def test_sla_states_and_events_with_a_fixed_clock(client, users, clock, db):
    t1, _, _ = build_week(client, users, clock, db)
    assert t1["first_response_due"] == "2026-11-18T11:00:00Z"

    assert sweep(db, at(18, 11, 35)) == {"at_risk": 0, "breached": 0}
    assert ticket(client, users, t1["id"])["sla_state"] == "running"

    # 80% of 120 business minutes after 10:00 is 11:36.
    assert sweep(db, at(18, 11, 36)) == {"at_risk": 1, "breached": 0}
    assert ticket(client, users, t1["id"])["sla_state"] == "at_risk"
    assert sweep(db, at(18, 11, 50)) == {"at_risk": 0, "breached": 0}
    assert len(events(db, t1["id"], "sla_at_risk")) == 1

    assert sweep(db, at(18, 12, 0)) == {"at_risk": 0, "breached": 1}
    assert ticket(client, users, t1["id"])["sla_state"] == "breached"
    assert sweep(db, at(18, 12, 5)) == {"at_risk": 0, "breached": 0}
    assert [e.data for e in events(db, t1["id"], "sla_breached")] == [
        {"target": "first_response", "due_at": "2026-11-18T11:00:00+00:00"}
    ]

    clock.set(at(18, 12, 10))
    answered = reply(client, users, t1["id"])
    # The first response is done (late); the resolution target is what runs now.
    assert (answered["sla_state"], answered["first_responded_at"]) == ("running", "2026-11-18T11:10:00Z")

    # The citizen writes again: a next response is due within 120 business minutes.
    clock.set(at(19, 9, 0))
    again = post(client, users, "t1b", "Wanneer komt de monteur?", at(19, 9), conversation_id="c1")
    assert again["id"] == t1["id"]
    assert again["next_response_due"] == "2026-11-19T10:00:00Z"
    clock.set(at(19, 9, 30))
    assert reply(client, users, t1["id"])["next_response_due"] is None

    # Waiting on the citizen from Thursday 10:00 to 14:00 pauses the resolution clock: due Monday 12:00.
    clock.set(at(19, 10))
    current = ticket(client, users, t1["id"])
    waiting = client.patch(
        f"/api/v1/tickets/{t1['id']}",
        json={"version": current["version"], "status": "waiting"},
        headers=users["kcc-agent"],
    ).json()
    assert (waiting["sla_state"], waiting["resolution_due"]) == ("paused", "2026-11-21T15:00:00Z")
    clock.set(at(19, 14))
    resumed = post(client, users, "t1c", "Het is lantaarnpaal nummer 12", at(19, 14), conversation_id="c1")
    assert (resumed["status"], resumed["resolution_due"]) == ("open", "2026-11-23T11:00:00Z")

    clock.set(at(19, 16))
    current = ticket(client, users, t1["id"])
    resolved = client.patch(
        f"/api/v1/tickets/{t1['id']}",
        json={"version": current["version"], "status": "resolved", "outcome": "forwarded"},
        headers=users["kcc-agent"],
    ).json()
    assert (resolved["status"], resolved["sla_state"]) == ("resolved", "breached")  # its first response was late

    with Session(db) as fresh:
        facts = {
            f.kind: (f.calendar_minutes, f.business_minutes, f.within_target)
            for f in fresh.exec(select(ResponseFact).where(ResponseFact.ticket_id == t1["id"]))
        }
    assert facts == {
        "first_response": (130.0, 130.0, False),
        "next_response": (30.0, 30.0, True),
        # Wed 10:00 to Thu 16:00 less the 4 h pause: 1,800 - 240 calendar; (600 + 480) - 240 business minutes.
        "resolution": (1560.0, 840.0, True),
    }


def test_summary_figures_in_both_clocks(client, users, clock, db):
    t1, _, _ = build_week(client, users, clock, db)
    sweep(db, at(18, 12, 0))
    clock.set(at(18, 12, 10))
    reply(client, users, t1["id"])

    summary = client.get(
        "/api/v1/reports/summary",
        params={"from": "2026-11-16T00:00:00+01:00", "to": "2026-11-23T00:00:00+01:00"},
        headers=users["manager"],
    ).json()

    # First responses: business [30, 120, 130], calendar [30, 130, 840] minutes; T1 was late.
    assert summary["volume"] == 3
    assert summary["first_responses"] == 3
    assert summary["on_time_share"] == 0.6667
    assert summary["first_response_median_minutes"] == 120.0
    assert summary["first_response_p90_minutes"] == 128.0
    assert summary["first_response_median_calendar_minutes"] == 130.0
    assert summary["first_response_p90_calendar_minutes"] == 698.0
    assert summary["breaches"] == 1
    assert summary["breaches_by_target"] == {"first_response": 1, "next_response": 0, "resolution": 0}
    assert summary["backlog"] == {"running": 3, "paused": 0, "at_risk": 0, "breached": 0}
    assert summary["reopen_rate"] is None

    kcc_only = client.get("/api/v1/reports/summary", params={"department": "kcc"}, headers=users["manager"]).json()
    assert (kcc_only["volume"], kcc_only["first_response_median_minutes"]) == (2, 125.0)
    whatsapp = client.get("/api/v1/reports/summary", params={"channel": "whatsapp"}, headers=users["admin"]).json()
    assert whatsapp["volume"] == 0 and whatsapp["on_time_share"] is None


def test_an_unanswered_breach_counts_against_the_on_time_share(client, users, clock, db):
    build_week(client, users, clock, db)
    sweep(db, at(18, 12, 0))  # T1 is late and not yet answered
    summary = client.get("/api/v1/reports/summary", headers=users["manager"]).json()
    assert (summary["first_responses"], summary["on_time_share"]) == (2, 0.6667)


def test_timeseries_and_heatmap(client, users, clock, db):
    build_week(client, users, clock, db)
    series = client.get("/api/v1/reports/timeseries", params={"interval": "day"}, headers=users["manager"]).json()
    assert series["data"] == [
        {
            "start": "2026-11-17T00:00:00+01:00",
            "volume": 1,
            "first_responses": 1,
            "on_time_share": 1.0,
            "first_response_median_minutes": 120.0,
            "first_response_median_calendar_minutes": 840.0,
        },
        {
            "start": "2026-11-18T00:00:00+01:00",
            "volume": 2,
            "first_responses": 1,
            "on_time_share": 1.0,
            "first_response_median_minutes": 30.0,
            "first_response_median_calendar_minutes": 30.0,
        },
    ]
    grid = client.get("/api/v1/reports/heatmap", headers=users["manager"]).json()["data"]
    assert grid[1][19] == 1 and grid[2][10] == 2 and sum(map(sum, grid)) == 3


def test_the_csv_opens_in_dutch_excel(client, users, clock, db):
    build_week(client, users, clock, db)
    response = client.get("/api/v1/reports/tickets.csv", headers=users["manager"])

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    raw = response.content.decode("utf-8")
    assert raw.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(raw.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:4] == ["ticket", "kanaal", "categorie", "subcategorie"]
    assert len(rows) == 4 and all(len(row) == len(rows[0]) for row in rows)
    t2_row = next(row for row in rows[1:] if row[2] == "service_question")
    named = dict(zip(rows[0], t2_row, strict=True))
    assert (named["verzonden"], named["eerste_reactie_minuten"], named["eerste_reactie_werkminuten"]) == (
        "2026-11-17 19:00",
        "840,0",
        "120,0",
    )
    assert named["eerste_reactie_op_tijd"] == "ja"

    comma = client.get("/api/v1/reports/tickets.csv", params={"sep": ","}, headers=users["manager"])
    assert comma.content.decode("utf-8").lstrip("\ufeff").splitlines()[0].startswith("ticket,kanaal,")


def test_reports_are_for_managers(client, users):
    assert client.get("/api/v1/reports/summary", headers=users["kcc-agent"]).status_code == 403
    assert client.get("/api/v1/reports/summary", headers=users["feed"]).status_code == 403
