"""Reading tickets and departments: filters, ordering, pagination, and who may see what."""

from tests.api.test_messages import message


def post(client, users, external_id, text, sent_at, **extra):
    body = message(external_id, text=text, sent_at=sent_at, **extra)
    response = client.post("/api/v1/messages", json=body, headers=users["feed"])
    assert response.status_code == 201, response.text
    return response.json()["ticket"]


def test_list_is_ordered_by_nearest_deadline_with_a_total(client, users):
    late = post(client, users, "a", "Hoe vraag ik een paspoort aan", "2026-11-18T10:00:00+01:00")  # 240 min
    soon = post(client, users, "b", "Lantaarnpaal kapot", "2026-11-18T10:30:00+01:00")  # 120 min
    comms = post(client, users, "c", "Mooi evenement gisteren!", "2026-11-18T09:00:00+01:00")  # 240 min

    response = client.get("/api/v1/tickets", params={"limit": 2}, headers=users["manager"])

    body = response.json()
    assert body["count"] == 3
    assert [t["id"] for t in body["data"]] == [soon["id"], comms["id"]]
    rest = client.get("/api/v1/tickets", params={"limit": 2, "offset": 2}, headers=users["manager"]).json()
    assert [t["id"] for t in rest["data"]] == [late["id"]]


def test_filters(client, users):
    question = post(client, users, "a", "Hoe vraag ik een paspoort aan", "2026-11-18T10:00:00+01:00")
    report = post(client, users, "b", "Lantaarnpaal kapot", "2026-11-18T10:30:00+01:00")
    comms = post(client, users, "c", "Mooi evenement gisteren!", "2026-11-18T09:00:00+01:00")

    def ids(**params):
        return [t["id"] for t in client.get("/api/v1/tickets", params=params, headers=users["admin"]).json()["data"]]

    assert ids(category="service_question") == [question["id"]]
    assert ids(department="communicatie") == [comms["id"]]
    assert ids(department="kcc") == [report["id"], question["id"]]
    assert ids(status="new", sla_state="running") == [report["id"], comms["id"], question["id"]]
    assert ids(status="resolved") == []
    assert ids(department="no-such-team") == []
    assert client.get("/api/v1/tickets", params={"status": "nonsense"}, headers=users["admin"]).status_code == 422


def test_agents_see_only_their_departments(client, users):
    report = post(client, users, "b", "Lantaarnpaal kapot", "2026-11-18T10:30:00+01:00")
    comms = post(client, users, "c", "Mooi evenement gisteren!", "2026-11-18T09:00:00+01:00")

    seen = client.get("/api/v1/tickets", headers=users["kcc-agent"]).json()
    assert [t["id"] for t in seen["data"]] == [report["id"]]
    assert seen["count"] == 1
    other_team = client.get("/api/v1/tickets", params={"department": "communicatie"}, headers=users["kcc-agent"])
    assert other_team.json() == {"data": [], "count": 0}
    assert client.get(f"/api/v1/tickets/{comms['id']}", headers=users["kcc-agent"]).status_code == 403
    assert client.get(f"/api/v1/tickets/{report['id']}", headers=users["kcc-agent"]).status_code == 200


def test_integrations_cannot_read_tickets(client, users):
    assert client.get("/api/v1/tickets", headers=users["feed"]).status_code == 403


def test_departments_show_their_hours(client, users):
    body = client.get("/api/v1/departments", headers=users["kcc-agent"]).json()

    assert [d["slug"] for d in body["data"]] == ["communicatie", "kcc", "triage"]
    communicatie = body["data"][0]
    assert communicatie["timezone"] == "Europe/Amsterdam"
    assert communicatie["opening_hours"]["monday"] == [["08:30", "17:00"]]
    assert communicatie["opening_hours"]["sunday"] == []
    assert list(communicatie["opening_hours"]) == [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ]
    assert communicatie["closure_days"] == []
