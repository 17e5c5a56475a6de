"""The audit trail: what is recorded, who may read it, that it cannot be changed; and the security headers."""

import csv
import io

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update
from sqlmodel import Session, select
from starlette.requests import Request

from models import AuditEvent, Role
from service import audit, auth, web
from service.app import create_app
from tests.api.test_queue import at, post
from tests.conftest import make_settings

PASSWORD = "correct horse battery staple"


def trail(db, *, skip_reads: bool = False) -> list[tuple]:
    with Session(db) as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    return [
        (e.username, e.action, e.object_type, e.object_id) for e in events if not (skip_reads and e.action == "read")
    ]


def version(client, users, ticket_id: int) -> int:
    return client.get(f"/api/v1/tickets/{ticket_id}", headers=users["admin"]).json()["version"]


# What is recorded ---------------------------------------------------------------------------------


def test_reading_a_ticket_is_recorded_once_per_person_per_ten_minutes(client, users, db, clock):
    ticket = post(client, users, "m1", "Lantaarnpaal kapot", at(18, 10))
    clock.set(at(18, 11))
    for _poll in range(3):  # the ticket page polls every 15 seconds
        assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=users["kcc-agent"]).status_code == 200
    client.get(f"/api/v1/tickets/{ticket['id']}", headers=users["manager"])
    clock.set(at(18, 11, 11))
    client.get(f"/api/v1/tickets/{ticket['id']}", headers=users["kcc-agent"])

    tid = str(ticket["id"])
    assert trail(db) == [
        ("kcc-agent", "read", "ticket", tid),
        ("manager", "read", "ticket", tid),
        ("kcc-agent", "read", "ticket", tid),
    ]
    with Session(db) as session:
        first = session.exec(select(AuditEvent).order_by(AuditEvent.id)).first()
    assert (first.at, first.ip, first.user_id is not None) == (at(18, 11), "testclient", True)


def test_every_change_to_a_ticket_is_recorded_but_presence_is_not(client, users, db, clock):
    ticket = post(client, users, "m1", "Lantaarnpaal kapot", at(18, 10))
    other = post(client, users, "m2", "Stoeptegel kapot", at(18, 10))
    clock.set(at(18, 11))
    tid, path, agent = str(ticket["id"]), f"/api/v1/tickets/{ticket['id']}", users["kcc-agent"]

    assert client.post(f"{path}/claim", headers=agent).status_code == 200
    assert client.post(f"{path}/presence", headers=agent).status_code == 200
    assert client.post(f"{path}/notes", json={"text": "Bel 06-12345678 terug"}, headers=agent).status_code == 201
    reply = {"text": "We sturen iemand langs.", "version": version(client, users, ticket["id"])}
    assert client.post(f"{path}/replies", json=reply, headers=agent).status_code == 201
    change = {"version": version(client, users, ticket["id"]), "priority": "high"}
    assert client.patch(path, json=change, headers=agent).status_code == 200
    assert client.post(f"{path}/release", headers=agent).status_code == 200
    claimed_id = str(client.post("/api/v1/queue/kcc/claim", headers=agent).json()["id"])
    assert claimed_id in (tid, str(other["id"]))

    assert trail(db, skip_reads=True) == [
        ("kcc-agent", "claim", "ticket", tid),
        ("kcc-agent", "note", "ticket", tid),
        ("kcc-agent", "reply", "ticket", tid),
        ("kcc-agent", "update", "ticket", tid),
        ("kcc-agent", "release", "ticket", tid),
        ("kcc-agent", "claim", "ticket", claimed_id),
    ]
    with Session(db) as session:
        details = [e.detail for e in session.exec(select(AuditEvent).where(AuditEvent.action != "read"))]
    # What changed, never what was written (a note or reply may hold personal data).
    assert details[1:4] == [{}, {"template": None}, {"version": change["version"], "priority": "high"}]
    assert "06-12345678" not in str(details)


def test_template_changes_are_recorded_with_the_fields_that_changed(client, users, db):
    created = client.post(
        "/api/v1/templates", json={"name": "Groet", "language": "nl", "body": "Hallo {naam}"}, headers=users["admin"]
    )
    assert created.status_code == 201, created.text
    template_id = created.json()["id"]
    changed = client.patch(f"/api/v1/templates/{template_id}", json={"body": "Dag {naam}"}, headers=users["admin"])
    assert changed.status_code == 200
    assert client.delete(f"/api/v1/templates/{template_id}", headers=users["admin"]).status_code == 204
    client.get("/api/v1/templates", headers=users["admin"])  # reading templates is not recorded

    assert trail(db) == [
        ("admin", "create", "template", str(template_id)),
        ("admin", "update", "template", str(template_id)),
        ("admin", "delete", "template", str(template_id)),
    ]
    with Session(db) as session:
        update_event = session.exec(select(AuditEvent).where(AuditEvent.action == "update")).one()
    assert update_event.detail == {"fields": ["body", "updated_at"]}


def test_a_refused_change_is_not_recorded(client, users, db):
    assert client.post("/api/v1/templates", json={"name": "x"}, headers=users["admin"]).status_code == 422
    assert client.delete("/api/v1/templates/999", headers=users["admin"]).status_code == 404
    assert trail(db) == []


def test_token_creation_through_the_api_is_recorded(client, users, db):
    created = client.post("/api/v1/tokens", json={"username": "feed"}, headers=users["admin"])
    assert created.status_code == 201, created.text
    assert trail(db) == [("admin", "create", "token", str(created.json()["id"]))]


@pytest.fixture
def anna(db) -> str:
    with Session(db) as session:
        auth.create_user(session, "anna", role=Role.agent, departments=["kcc"], password=PASSWORD)
        session.commit()
    return "anna"


def log_in(client, username: str, password: str):
    client.get("/login")
    form = {"username": username, "password": password, "csrf_token": client.cookies.get(web.LOGIN_CSRF_COOKIE)}
    return client.post("/login", data=form, follow_redirects=False)


def test_log_ins_failed_log_ins_and_log_outs_are_recorded(client, db, anna):
    assert log_in(client, "anna", "wrong").status_code == 401
    assert log_in(client, "nobody", "wrong").status_code == 401
    assert log_in(client, "anna", PASSWORD).status_code == 303
    page = client.get("/queue")
    csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    assert client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303

    assert trail(db) == [
        ("anna", "login_failed", "session", None),
        ("nobody", "login_failed", "session", None),
        ("anna", "login", "session", None),
        ("anna", "logout", "session", None),
    ]
    with Session(db) as session:
        events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.user_id is not None for e in events] == [False, False, True, True]
    assert PASSWORD not in str([e.model_dump() for e in events])


def test_report_exports_are_recorded(client, users, db):
    response = client.get("/api/v1/reports/tickets.csv", params={"department": "kcc"}, headers=users["manager"])
    assert response.status_code == 200
    client.get("/api/v1/reports/summary", headers=users["manager"])  # not an export

    assert trail(db) == [("manager", "export", "report", None)]
    with Session(db) as session:
        (event,) = session.exec(select(AuditEvent)).all()
    assert event.detail == {"path": "/api/v1/reports/tickets.csv", "query": {"department": "kcc"}}


# Reading the trail --------------------------------------------------------------------------------


def test_admins_search_the_trail_newest_first_with_filters_and_paging(client, users, db, clock):
    first = post(client, users, "m1", "Lantaarnpaal kapot", at(18, 10))
    second = post(client, users, "m2", "Stoeptegel kapot", at(18, 10))
    for moment, ticket, who in ((at(18, 11), first, "kcc-agent"), (at(18, 12), second, "manager")):
        clock.set(moment)
        client.get(f"/api/v1/tickets/{ticket['id']}", headers=users[who])
    clock.set(at(18, 13))

    everything = client.get("/api/v1/audit", headers=users["admin"]).json()
    assert everything["count"] == 2
    assert [(e["username"], e["object_id"]) for e in everything["data"]] == [
        ("manager", str(second["id"])),
        ("kcc-agent", str(first["id"])),
    ]
    assert everything["data"][0]["at"] == "2026-11-18T11:00:00Z"

    def found(**params) -> list[str]:
        answer = client.get("/api/v1/audit", params=params, headers=users["admin"]).json()
        return [e["username"] for e in answer["data"]]

    assert found(user="kcc-agent") == ["kcc-agent"]
    assert found(object_type="ticket", object_id=str(second["id"])) == ["manager"]
    assert found(**{"from": at(18, 11, 30).isoformat()}) == ["manager"]
    assert found(**{"to": at(18, 11, 30).isoformat()}) == ["kcc-agent"]
    assert found(limit=1, offset=1) == ["kcc-agent"]
    assert client.get("/api/v1/audit", params={"limit": 0}, headers=users["admin"]).status_code == 422


def test_the_trail_downloads_as_csv_and_the_download_is_recorded(client, users, db, clock):
    with Session(db) as session:
        audit.record(session, user="=HYPERLINK(1)", action="login_failed", object_type="session", at=at(18, 9))
        session.commit()
    clock.set(at(18, 10))

    response = client.get("/api/v1/audit.csv", headers=users["admin"])

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    table = list(csv.reader(io.StringIO(response.text.lstrip("\ufeff")), delimiter=";"))
    assert table == [
        ["at", "username", "action", "object_type", "object_id", "ip", "detail"],
        # Not a formula in Excel: whoever fails to log in chooses the username.
        # The download is recorded (and committed) before the file is written, so it lists itself first.
        ["2026-11-18T09:00:00+00:00", "admin", "export", "audit", "", "testclient", '{"query": {}}'],
        ["2026-11-18T08:00:00+00:00", "'=HYPERLINK(1)", "login_failed", "session", "", "", "{}"],
    ]


# Append-only --------------------------------------------------------------------------------------


def test_the_orm_refuses_to_change_or_delete_an_audit_event(client, db):
    with Session(db) as session:
        event = audit.record(session, user="cli", action="create", object_type="user", object_id=1)
        session.commit()

        event.action = "delete"
        session.add(event)
        with pytest.raises(audit.AppendOnlyError):
            session.commit()
        session.rollback()

        session.delete(session.get(AuditEvent, event.id))
        with pytest.raises(audit.AppendOnlyError):
            session.commit()
        session.rollback()

        with pytest.raises(audit.AppendOnlyError):
            session.exec(update(AuditEvent).values(action="delete"))
        with pytest.raises(audit.AppendOnlyError):
            session.exec(delete(AuditEvent))
        session.rollback()

    assert trail(db) == [("cli", "create", "user", "1")]


def test_no_api_route_changes_or_deletes_the_trail(client):
    for route in client.app.routes:
        if "audit" in getattr(route, "path", ""):
            assert route.methods == {"GET"}, route.path


# Where a request came from ------------------------------------------------------------------------


def request_from(peer: str, forwarded: str | None, proxies: list[str]) -> Request:
    class App:
        class state:
            settings = make_settings("sqlite://", trusted_proxies=proxies)

    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers, "app": App})


def test_forwarded_for_is_believed_only_from_a_trusted_proxy():
    assert audit.client_ip(request_from("10.0.0.2", "203.0.113.7", [])) == "10.0.0.2"
    assert audit.client_ip(request_from("198.51.100.1", "203.0.113.7", ["10.0.0.0/8"])) == "198.51.100.1"
    assert audit.client_ip(request_from("10.0.0.2", "203.0.113.7", ["10.0.0.0/8"])) == "203.0.113.7"
    # A client cannot pass itself off as someone else by sending the header along: the proxy appends.
    assert audit.client_ip(request_from("10.0.0.2", "1.2.3.4, 203.0.113.7, 10.0.0.3", ["10.0.0.0/8"])) == (
        "203.0.113.7"
    )
    assert audit.client_ip(request_from("10.0.0.2", None, ["10.0.0.2"])) == "10.0.0.2"


# Security headers ---------------------------------------------------------------------------------


BASELINE = {"x-content-type-options": "nosniff", "referrer-policy": "same-origin", "x-frame-options": "DENY"}


def test_security_headers_on_api_answers_pages_and_errors(client, users):
    for response in (
        client.get("/api/v1/tickets", headers=users["admin"]),
        client.get("/login"),
        client.get("/api/v1/tickets"),  # 401
        client.get("/static/app.css"),
    ):
        assert {name: response.headers.get(name) for name in BASELINE} == BASELINE, response.url
        # Plain http (development, or behind a proxy we do not trust): no HSTS.
        assert "strict-transport-security" not in response.headers


def test_strict_transport_security_only_over_https(db, database_url, stand_in):
    app = create_app(make_settings(database_url, trusted_proxies=["10.0.0.0/8"]), classifier=stand_in)
    hsts = "max-age=31536000; includeSubDomains"
    behind_tls = {"x-forwarded-proto": "https"}
    with TestClient(app, base_url="https://testserver") as secure:
        assert secure.get("/login").headers["strict-transport-security"] == hsts
    with TestClient(app, client=("10.0.0.2", 50000)) as via_our_proxy:
        assert via_our_proxy.get("/login", headers=behind_tls).headers["strict-transport-security"] == hsts
        assert "strict-transport-security" not in via_our_proxy.get("/login").headers
    with TestClient(app, client=("198.51.100.1", 50000)) as direct:
        # Anyone can send the header; only our proxy's word counts.
        assert "strict-transport-security" not in direct.get("/login", headers=behind_tls).headers
