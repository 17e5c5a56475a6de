"""The shared queue and working a ticket: claims and leases, replies, status rules, pauses, corrections."""

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from models import LabelledExample, Message
from tests.api.test_messages import message

AMS = ZoneInfo("Europe/Amsterdam")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in November 2026, Amsterdam time (the 18th is a Wednesday)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=AMS)


def post(client, users, external_id, text, sent_at: datetime, **extra) -> dict:
    body = message(external_id, text=text, sent_at=sent_at.isoformat(), **extra)
    response = client.post("/api/v1/messages", json=body, headers=users["feed"])
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


def claimed_version(client, users, ticket) -> int:
    return client.get(f"/api/v1/tickets/{ticket['id']}", headers=users["admin"]).json()["version"]


def claim(client, headers, department="kcc"):
    return client.post(f"/api/v1/queue/{department}/claim", headers=headers)


def test_claims_come_in_deadline_then_priority_then_age_order(client, users, clock):
    older = post(client, users, "e1", "Lantaarnpaal kapot", at(17, 21))  # due Wed 10:00
    younger = post(client, users, "e2", "Lantaarnpaal kapot", at(17, 22))  # due Wed 10:00
    urgent = post(client, users, "c", "Boom ligt over de weg", at(18, 9, 45))  # 30 min: due 10:15
    normal = post(client, users, "b", "Stoeptegel kapot", at(18, 10))  # due 12:00
    high = post(client, users, "d", "Afval op straat", at(18, 10))  # due 12:00, raised to high below
    question = post(client, users, "a", "Hoe vraag ik een paspoort aan", at(18, 9))  # due 13:00
    post(client, users, "x", "Leuke actie van de gemeente!", at(18, 9))  # Communicatie: not in this queue
    raised = client.patch(
        f"/api/v1/tickets/{high['id']}", json={"version": high["version"], "priority": "high"}, headers=users["admin"]
    )
    assert raised.status_code == 200, raised.text

    clock.set(at(18, 11))
    claimed = []
    while (response := claim(client, users["kcc-agent"])).status_code == 200:
        claimed.append(response.json()["id"])
    assert response.status_code == 204
    assert claimed == [older["id"], younger["id"], urgent["id"], high["id"], normal["id"], question["id"]]


def test_a_claimed_ticket_is_nobody_elses_until_its_lease_lapses(client, users, clock):
    first = post(client, users, "e1", "Lantaarnpaal kapot", at(17, 21))
    second = post(client, users, "e2", "Lantaarnpaal kapot", at(17, 22))

    clock.set(at(18, 11))
    mine = claim(client, users["kcc-agent"]).json()
    assert (mine["id"], mine["assignee"], mine["status"]) == (first["id"], "kcc-agent", "open")

    clock.set(at(18, 11, 10))
    assert claim(client, users["admin"]).json()["id"] == second["id"]
    assert claim(client, users["admin"]).status_code == 204

    clock.set(at(18, 11, 21))  # 20 minutes without activity: the claim lapses
    taken_over = claim(client, users["admin"]).json()
    assert (taken_over["id"], taken_over["assignee"]) == (first["id"], "admin")


def test_release_puts_the_ticket_back_at_once(client, users, clock):
    ticket = post(client, users, "e1", "Lantaarnpaal kapot", at(17, 21))
    clock.set(at(18, 11))
    claimed = claim(client, users["kcc-agent"]).json()

    released = client.post(
        f"/api/v1/tickets/{ticket['id']}/release", json={"version": claimed["version"]}, headers=users["kcc-agent"]
    )
    assert released.status_code == 200
    assert (released.json()["status"], released.json()["assignee"]) == ("new", None)
    assert claim(client, users["admin"]).json()["id"] == ticket["id"]


def test_agents_claim_only_from_their_own_departments(client, users):
    assert claim(client, users["comms-agent"], "kcc").status_code == 403
    assert claim(client, users["kcc-agent"], "nowhere").status_code == 404
    assert claim(client, users["feed"], "kcc").status_code == 403


def test_the_first_reply_stamps_the_first_response_and_later_ones_do_not(client, users, clock):
    ticket = post(client, users, "e1", "Lantaarnpaal kapot", at(18, 10))
    clock.set(at(18, 11))
    claimed = claim(client, users["kcc-agent"]).json()

    first = client.post(
        f"/api/v1/tickets/{ticket['id']}/replies",
        json={"text": "Dank je, we sturen iemand langs.", "version": claimed["version"]},
        headers=users["kcc-agent"],
    )
    assert first.status_code == 201, first.text
    assert first.json()["first_responded_at"] == "2026-11-18T10:00:00Z"

    clock.set(at(18, 12))
    second = client.post(
        f"/api/v1/tickets/{ticket['id']}/replies",
        json={"text": "Update: de monteur komt morgen.", "version": first.json()["version"]},
        headers=users["kcc-agent"],
    )
    assert second.json()["first_responded_at"] == "2026-11-18T10:00:00Z"

    detail = client.get(f"/api/v1/tickets/{ticket['id']}", headers=users["kcc-agent"]).json()
    outbound = [m for m in detail["messages"] if m["direction"] == "outbound"]
    assert [m["text"] for m in outbound] == ["Dank je, we sturen iemand langs.", "Update: de monteur komt morgen."]
    replied = [e["data"]["first_response"] for e in detail["timeline"] if e["kind"] == "replied"]
    assert replied == [True, False]


def test_a_stale_version_gets_409_with_the_current_ticket_and_changes_nothing(client, users, clock, session):
    ticket = post(client, users, "e1", "Lantaarnpaal kapot", at(18, 10))
    clock.set(at(18, 11))
    claimed = claim(client, users["kcc-agent"]).json()

    stale = client.post(
        f"/api/v1/tickets/{ticket['id']}/replies",
        json={"text": "Hallo", "version": ticket["version"]},
        headers=users["kcc-agent"],
    )
    assert stale.status_code == 409
    assert stale.json()["detail"]["current"]["version"] == claimed["version"]
    assert session.exec(select(Message).where(Message.direction == "outbound")).all() == []

    patch = client.patch(
        f"/api/v1/tickets/{ticket['id']}",
        json={"version": ticket["version"], "priority": "high"},
        headers=users["admin"],
    )
    assert patch.status_code == 409
    assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=users["admin"]).json()["priority"] == "normal"


def test_illegal_transitions_get_409_and_resolving_needs_an_outcome(client, users, clock):
    ticket = post(client, users, "e1", "Lantaarnpaal kapot", at(18, 10))
    clock.set(at(18, 11))
    claimed = claim(client, users["kcc-agent"]).json()
    url = f"/api/v1/tickets/{ticket['id']}"

    closed = client.patch(url, json={"version": claimed["version"], "status": "closed"}, headers=users["kcc-agent"])
    assert closed.status_code == 409
    assert closed.json()["detail"] == "A ticket that is open cannot become closed"

    no_outcome = client.patch(
        url, json={"version": claimed["version"], "status": "resolved"}, headers=users["kcc-agent"]
    )
    assert no_outcome.status_code == 422
    assert no_outcome.json()["detail"][0]["loc"] == ["body", "outcome"]

    resolved = client.patch(
        url,
        json={"version": claimed["version"], "status": "resolved", "outcome": "forwarded"},
        headers=users["kcc-agent"],
    ).json()
    assert (resolved["status"], resolved["outcome"], resolved["resolved_at"]) == (
        "resolved",
        "forwarded",
        "2026-11-18T10:00:00Z",
    )
    reply = client.post(
        f"{url}/replies", json={"text": "x", "version": resolved["version"]}, headers=users["kcc-agent"]
    )
    assert reply.status_code == 409


def test_waiting_on_the_citizen_pauses_the_resolution_clock_exactly(client, users, clock):
    # Sent Wednesday 10:00; 2,400 business minutes of KCC time: due Saturday 16:00.
    ticket = post(client, users, "e1", "Stoeptegel kapot", at(18, 10), conversation_id="conv-1")
    assert ticket["resolution_due"] == "2026-11-21T15:00:00Z"
    clock.set(at(18, 12))
    claim(client, users["kcc-agent"])
    asked = client.post(
        f"/api/v1/tickets/{ticket['id']}/replies",
        json={"text": "Op welk adres precies?", "version": claimed_version(client, users, ticket)},
        headers=users["kcc-agent"],
    ).json()
    waiting = client.patch(
        f"/api/v1/tickets/{ticket['id']}",
        json={"version": asked["version"], "status": "waiting"},
        headers=users["kcc-agent"],
    ).json()
    assert (waiting["status"], waiting["sla_state"]) == ("waiting", "paused")

    # The citizen answers Thursday 10:00: 600 business minutes passed while paused (Wed 12-20, Thu 8-10),
    # so the 2,280 minutes that were left run from Thursday 10:00: Monday 18:00.
    clock.set(at(19, 10, 1))
    answer = post(client, users, "e2", "De tegel ligt voor nummer 12", at(19, 10), conversation_id="conv-1")
    assert answer["id"] == ticket["id"]
    assert (answer["status"], answer["sla_state"]) == ("open", "running")
    assert answer["resolution_due"] == "2026-11-23T17:00:00Z"


def test_an_agent_resuming_by_hand_also_restarts_the_clock_exactly(client, users, clock):
    ticket = post(client, users, "e1", "Stoeptegel kapot", at(18, 10))
    clock.set(at(18, 12))
    claimed = claim(client, users["kcc-agent"]).json()
    url = f"/api/v1/tickets/{ticket['id']}"
    waiting = client.patch(url, json={"version": claimed["version"], "status": "waiting"}, headers=users["kcc-agent"])

    clock.set(at(19, 10))
    resumed = client.patch(
        url, json={"version": waiting.json()["version"], "status": "open"}, headers=users["kcc-agent"]
    )
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["resolution_due"] == "2026-11-23T17:00:00Z"


def test_a_category_correction_reroutes_and_is_kept_for_training(client, users, clock, session):
    ticket = post(client, users, "e1", "Wat vinden jullie van de nieuwe bomen in het park?", at(18, 10))
    assert (ticket["category"], ticket["department"]) == ("communication", "communicatie")

    clock.set(at(18, 11))
    corrected = client.patch(
        f"/api/v1/tickets/{ticket['id']}",
        json={"version": ticket["version"], "category": "public_space_report"},
        headers=users["admin"],
    ).json()

    assert (corrected["category"], corrected["department"]) == ("public_space_report", "kcc")
    # Re-targeted with the report policy from the original send time: 120 business minutes.
    assert corrected["first_response_due"] == "2026-11-18T11:00:00Z"
    example = session.exec(select(LabelledExample)).one()
    assert (example.text, example.label, example.predicted, example.source) == (
        "Wat vinden jullie van de nieuwe bomen in het park?",
        "public_space_report",
        "communication",
        "correction",
    )
    timeline = client.get(f"/api/v1/tickets/{ticket['id']}", headers=users["admin"]).json()["timeline"]
    assert [e["kind"] for e in timeline][-2:] == ["moved", "targets_set"]
    assert timeline[-3]["kind"] == "category_changed"


def test_a_triage_decision_is_kept_as_a_triage_example(client, users, session):
    ticket = post(client, users, "e1", "unsure: hoe zit het met de paspoort afspraak", at(18, 10))
    assert ticket["department"] == "triage"

    decided = client.patch(
        f"/api/v1/tickets/{ticket['id']}",
        json={"version": ticket["version"], "category": "service_question"},
        headers=users["admin"],
    ).json()

    assert decided["department"] == "kcc"
    assert session.exec(select(LabelledExample.source)).all() == ["triage"]


def test_notes_stay_internal_and_presence_shows_colleagues(client, users):
    ticket = post(client, users, "e1", "Lantaarnpaal kapot", at(18, 10))
    url = f"/api/v1/tickets/{ticket['id']}"

    noted = client.post(f"{url}/notes", json={"text": "Al gemeld bij Stedin"}, headers=users["kcc-agent"])
    assert noted.status_code == 201
    assert client.post(f"{url}/presence", headers=users["kcc-agent"]).json() == []
    assert client.post(f"{url}/presence", headers=users["manager"]).json() == ["kcc-agent"]

    detail = client.get(url, headers=users["kcc-agent"]).json()
    assert detail["viewers"] == ["manager"]
    assert [m["direction"] for m in detail["messages"]] == ["inbound"]
    assert detail["timeline"][-1]["data"] == {"text": "Al gemeld bij Stedin"}


def test_templates_are_filled_in_for_the_ticket(client, users):
    ticket = post(client, users, "e1", "Lantaarnpaal kapot", at(18, 10))

    filled = client.get(f"/api/v1/tickets/{ticket['id']}/templates", headers=users["kcc-agent"]).json()["data"]

    names = [t["name"] for t in filled]
    assert "Melding doorgezet" in names and "Dank voor je reactie" not in names
    forwarded = next(t for t in filled if t["name"] == "Melding doorgezet")
    assert forwarded["body"].startswith("Hoi Jan Burger, dank je wel voor je melding!")
    assert f"Je zaaknummer is {ticket['id']};" in forwarded["body"]
    assert "vóór zaterdag 21 november, 16.00 uur" in forwarded["body"]


def test_only_admins_manage_templates(client, users):
    body = {"name": "Storing", "language": "nl", "body": "Hoi {naam}, er is een storing."}
    assert client.post("/api/v1/templates", json=body, headers=users["kcc-agent"]).status_code == 403
    created = client.post("/api/v1/templates", json=body, headers=users["admin"])
    assert created.status_code == 201
    assert client.post("/api/v1/templates", json=body, headers=users["admin"]).status_code == 409
    template_id = created.json()["id"]
    renamed = client.patch(f"/api/v1/templates/{template_id}", json={"name": "Storing!"}, headers=users["admin"])
    assert renamed.json()["name"] == "Storing!"
    assert client.delete(f"/api/v1/templates/{template_id}", headers=users["admin"]).status_code == 204
