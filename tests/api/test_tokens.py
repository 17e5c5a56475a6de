"""API tokens: issued once by an admin, listed without the secret, scoped, expiring and revocable."""

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from models import ApiToken
from service import auth
from tests.api.test_messages import message

NOW = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)


def issue(client, users, username, **body) -> dict:
    response = client.post("/api/v1/tokens", json={"username": username, **body}, headers=users["admin"])
    assert response.status_code == 201, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_an_admin_issues_a_token_that_is_shown_once_and_stored_hashed(client, users, db, clock):
    clock.set(NOW)
    created = issue(client, users, "feed", scopes=["ingest"], expires_in_days=30)

    assert created["token"].startswith("wcr_") and created["prefix"] == created["token"][:12]
    assert (created["username"], created["scopes"]) == ("feed", ["ingest"])
    assert created["created_at"] == "2026-11-18T09:00:00Z"
    assert created["expires_at"] == "2026-12-18T09:00:00Z"
    assert client.post("/api/v1/messages", json=message(), headers=bearer(created["token"])).status_code == 201
    listed = client.get("/api/v1/tokens", params={"username": "feed"}, headers=users["admin"]).json()
    assert listed["count"] == 2  # the fixture's token and this one
    newest = listed["data"][0]
    assert newest["id"] == created["id"] and "token" not in newest
    assert created["token"] not in str(listed)
    with Session(db) as session:
        stored = session.get(ApiToken, created["id"])
        assert stored.token_hash == auth.hash_token(created["token"])


@pytest.mark.parametrize("who", ["manager", "feed", "kcc-agent"])
def test_only_admins_manage_tokens(client, users, who):
    assert client.post("/api/v1/tokens", json={"username": "feed"}, headers=users[who]).status_code == 403
    assert client.get("/api/v1/tokens", headers=users[who]).status_code == 403
    assert client.delete("/api/v1/tokens/1", headers=users[who]).status_code == 403


def test_unknown_users_and_scopes_beyond_the_role_are_refused(client, users):
    assert client.post("/api/v1/tokens", json={"username": "nobody"}, headers=users["admin"]).status_code == 404
    beyond = client.post("/api/v1/tokens", json={"username": "feed", "scopes": ["work"]}, headers=users["admin"])
    assert beyond.status_code == 422
    assert beyond.json()["detail"][0]["loc"] == ["body", "scopes"]
    unknown = client.post("/api/v1/tokens", json={"username": "feed", "scopes": ["root"]}, headers=users["admin"])
    assert unknown.status_code == 422


def test_a_scoped_token_may_only_do_what_both_its_role_and_its_scopes_allow(client, users):
    ticket = client.post("/api/v1/messages", json=message(), headers=users["feed"]).json()["ticket"]
    reader = issue(client, users, "manager", scopes=["read"])["token"]
    reporter = issue(client, users, "manager", scopes=["reports"])["token"]
    ingest_only_admin = issue(client, users, "admin", scopes=["ingest"])["token"]
    full_admin = issue(client, users, "admin")["token"]

    assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=bearer(reader)).status_code == 200
    refused = client.post(f"/api/v1/tickets/{ticket['id']}/claim", headers=bearer(reader))
    assert (refused.status_code, refused.json()) == (403, {"detail": "This token's scopes do not include 'work'"})
    assert client.get(f"/api/v1/tickets/{ticket['id']}", headers=bearer(reporter)).status_code == 403
    assert client.post("/api/v1/messages", json=message("m2"), headers=bearer(ingest_only_admin)).status_code == 201
    assert client.get("/api/v1/tokens", headers=bearer(ingest_only_admin)).status_code == 403
    assert client.get("/api/v1/departments", headers=bearer(ingest_only_admin)).status_code == 403
    # No scopes: the role's full rights.
    assert client.get("/api/v1/tokens", headers=bearer(full_admin)).status_code == 200
    assert client.post(f"/api/v1/tickets/{ticket['id']}/claim", headers=bearer(full_admin)).status_code == 200


def test_the_reports_scope_reads_reports(client, users):
    reporter = issue(client, users, "manager", scopes=["reports"])["token"]
    reader = issue(client, users, "manager", scopes=["read"])["token"]
    assert client.get("/api/v1/reports/summary", headers=bearer(reporter)).status_code == 200
    assert client.get("/api/v1/reports/summary", headers=bearer(reader)).status_code == 403


def test_an_expired_token_stops_working(client, users, clock):
    clock.set(NOW)
    token = issue(client, users, "feed", expires_in_days=1)["token"]
    assert client.post("/api/v1/messages", json=message(), headers=bearer(token)).status_code == 201
    clock.advance(days=1)
    expired = client.post("/api/v1/messages", json=message("m2"), headers=bearer(token))
    assert (expired.status_code, expired.json()) == (401, {"detail": "Invalid, expired or revoked token"})


def test_a_revoked_token_stops_working_at_once_and_stays_listed(client, users, clock):
    clock.set(NOW)
    created = issue(client, users, "feed")
    assert client.post("/api/v1/messages", json=message(), headers=bearer(created["token"])).status_code == 201

    assert client.delete(f"/api/v1/tokens/{created['id']}", headers=users["admin"]).status_code == 204
    clock.advance(hours=1)
    assert client.delete(f"/api/v1/tokens/{created['id']}", headers=users["admin"]).status_code == 204

    assert client.post("/api/v1/messages", json=message("m2"), headers=bearer(created["token"])).status_code == 401
    listed = client.get("/api/v1/tokens", headers=users["admin"]).json()["data"]
    assert [t["revoked_at"] for t in listed if t["id"] == created["id"]] == ["2026-11-18T09:00:00Z"]
    assert client.delete("/api/v1/tokens/999999", headers=users["admin"]).status_code == 404


def test_last_used_is_written_at_most_once_a_minute(client, users, clock, db):
    clock.set(NOW)
    created = issue(client, users, "feed")

    def last_used():
        with Session(db) as session:
            return session.exec(select(ApiToken.last_used_at).where(ApiToken.id == created["id"])).one()

    assert last_used() is None
    client.post("/api/v1/messages", json=message("m1"), headers=bearer(created["token"]))
    assert last_used() == NOW
    clock.advance(seconds=59)
    client.post("/api/v1/messages", json=message("m2"), headers=bearer(created["token"]))
    assert last_used() == NOW
    clock.advance(seconds=1)
    client.post("/api/v1/messages", json=message("m3"), headers=bearer(created["token"]))
    assert last_used() == datetime(2026, 11, 18, 9, 1, tzinfo=UTC)
    listed = client.get("/api/v1/tokens", headers=users["admin"]).json()["data"]
    assert [t["last_used_at"] for t in listed if t["id"] == created["id"]] == ["2026-11-18T09:01:00Z"]
