"""The log-in form: lock-out after wrong passwords (telling no one who exists), CSRF token and Origin check."""

import re
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from models import Role, User
from service import auth, web
from service.app import create_app
from service.deps import get_now
from tests.api.test_web import PASSWORD, log_in, login_csrf, session_cookie
from tests.conftest import make_settings

NOW = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
LOCKED_TEXT = "Na 5 mislukte pogingen achter elkaar is een account 15 minuten geblokkeerd."


@pytest.fixture
def limited(db, database_url, stand_in, clock):
    """Makes a client for an app with the given settings."""

    @contextmanager
    def make(**overrides):
        # These tests try far more often than a person would; the per-address rate limit has its own tests.
        overrides.setdefault("login_rate_per_ip", 0)
        app = create_app(make_settings(database_url, **overrides), classifier=stand_in)
        app.dependency_overrides[get_now] = clock
        with TestClient(app) as client:
            yield client

    return make


@pytest.fixture
def client(limited):
    with limited() as client:
        yield client


@pytest.fixture
def anna(db) -> str:
    with Session(db) as session:
        auth.create_user(session, "anna", role=Role.agent, departments=["kcc"], password=PASSWORD)
        session.commit()
    return "anna"


def failures(db, username="anna") -> tuple[int, datetime | None]:
    with Session(db) as session:
        user = session.exec(select(User).where(User.username == username)).one()
        return user.failed_logins, user.locked_until


def page_without(response, username: str) -> str:
    """The page with what the visitor typed and the form's token taken out: the rest must not differ."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", response.text.replace(f'value="{username}"', ""))


# Lock-out -----------------------------------------------------------------------------------------


def test_five_wrong_passwords_in_a_row_lock_the_account_for_fifteen_minutes(client, anna, clock, db):
    clock.set(NOW)
    for _ in range(4):
        assert log_in(client, password="wrong").status_code == 401
    assert failures(db) == (4, None)

    fifth = log_in(client, password="wrong")
    assert fifth.status_code == 401
    assert failures(db) == (0, datetime(2026, 11, 18, 9, 15, tzinfo=UTC))

    clock.advance(minutes=14, seconds=59)
    locked = log_in(client)  # the right password, while locked
    assert locked.status_code == 401
    assert session_cookie(locked) is None
    assert LOCKED_TEXT in locked.text

    clock.advance(seconds=1)
    assert log_in(client).status_code == 303
    assert failures(db) == (0, None)


def test_a_success_resets_the_count(client, anna, clock, db):
    clock.set(NOW)
    for _ in range(4):
        log_in(client, password="wrong")
    assert log_in(client).status_code == 303
    assert failures(db) == (0, None)
    for _ in range(4):
        log_in(client, password="wrong")
    assert failures(db) == (4, None)
    assert log_in(client).status_code == 303


def test_hammering_a_locked_account_does_not_extend_the_lock(client, anna, clock, db):
    clock.set(NOW)
    for _ in range(5):
        log_in(client, password="wrong")
    clock.advance(minutes=10)
    for _ in range(10):
        log_in(client, password="wrong")
    assert failures(db) == (0, datetime(2026, 11, 18, 9, 15, tzinfo=UTC))


def test_the_answer_is_the_same_whether_the_user_exists_mistyped_or_is_locked(client, anna, clock, db):
    clock.set(NOW)
    first_wrong = log_in(client, password="wrong")
    for _ in range(4):
        log_in(client, password="wrong")
    locked = log_in(client)  # right password, locked account
    unknown = [log_in(client, username="nobody-here", password="wrong") for _ in range(6)]

    answers = [first_wrong, locked, *unknown]
    assert {r.status_code for r in answers} == {401}
    assert {session_cookie(r) for r in answers} == {None}
    assert LOCKED_TEXT in first_wrong.text  # the rule is always stated, never whether it applies
    pages = {page_without(first_wrong, "anna"), page_without(locked, "anna")}
    pages |= {page_without(r, "nobody-here") for r in unknown}
    assert len(pages) == 1
    headers = {
        tuple(sorted((k, v) for k, v in r.headers.items() if k not in ("x-request-id", "content-length", "set-cookie")))
        for r in answers
    }
    assert len(headers) == 1


def test_every_failure_costs_one_password_hash_check_like_a_real_one(client, anna, clock, db, monkeypatch):
    """The timing does not tell who exists: one Argon2 verification for a real, an unknown, a password-less or a
    locked user alike (the hash parameters of the dummy are the real ones)."""
    with Session(db) as session:
        auth.create_user(session, "robot", role=Role.integration)  # no password at all
        session.commit()
    checked = []
    real_verify = auth.verify_password

    def counting(password_hash, password):
        checked.append(password_hash.split("$")[1:4])
        return real_verify(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", counting)
    clock.set(NOW)
    log_in(client, password="wrong")
    log_in(client, username="nobody-here", password="wrong")
    log_in(client, username="robot", password="wrong")
    for _ in range(4):
        log_in(client, password="wrong")
    log_in(client)  # locked

    assert len(checked) == 8
    assert len({tuple(parameters) for parameters in checked}) == 1


def test_lockout_settings_are_used(limited, anna, clock, db):
    with limited(login_max_failures=2, login_lockout_minutes=1) as client:
        clock.set(NOW)
        log_in(client, password="wrong")
        log_in(client, password="wrong")
        assert failures(db) == (0, datetime(2026, 11, 18, 9, 1, tzinfo=UTC))
        assert "Na 2 mislukte pogingen achter elkaar is een account 1 minuten geblokkeerd." in log_in(client).text


# CSRF and origin ----------------------------------------------------------------------------------


def test_the_form_carries_a_token_that_matches_its_cookie(client):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    cookie = [h for h in page.headers.get_list("set-cookie") if h.startswith(web.LOGIN_CSRF_COOKIE)][0]
    assert token == client.cookies.get(web.LOGIN_CSRF_COOKIE)
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and "path=/login" in cookie.lower()
    assert client.get("/login").text.count(token) == 1  # the same token while the cookie lasts


@pytest.mark.parametrize(
    "case",
    ["no token", "no cookie", "wrong token", "non-ascii token"],
)
def test_a_log_in_without_the_matching_token_is_refused(client, anna, case):
    token = login_csrf(client)
    data = {"username": "anna", "password": PASSWORD, "csrf_token": token}
    if case == "no token":
        del data["csrf_token"]
    elif case == "no cookie":
        client.cookies.clear()
    elif case == "wrong token":
        data["csrf_token"] = token[:-1] + ("A" if token[-1] != "A" else "B")
    else:
        data["csrf_token"] = "é" * 43

    response = client.post("/login", data=data, follow_redirects=False)

    assert response.status_code == 403
    assert session_cookie(response) is None
    assert "Deze actie kon niet worden gecontroleerd." in response.text
    # The refusal hands out a fresh form, so a person whose page had gone stale can just try again.
    assert log_in(client).status_code == 303


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Origin": "http://testserver"}, True),
        ({"Referer": "http://testserver/login?next=%2Fqueue"}, True),
        ({"Origin": "https://evil.example"}, False),
        ({"Origin": "null"}, False),
        ({"Referer": "https://evil.example/phish"}, False),
        ({"Origin": "https://evil.example", "Referer": "http://testserver/login"}, False),
        ({"Origin": "http://testserver.evil.example"}, False),
    ],
)
def test_a_log_in_from_another_site_is_refused_even_with_the_token(client, anna, headers, allowed):
    data = {"username": "anna", "password": PASSWORD, "csrf_token": login_csrf(client)}
    response = client.post("/login", data=data, headers=headers, follow_redirects=False)
    assert response.status_code == (303 if allowed else 403)


def test_a_trusted_origin_may_post_the_form(limited, anna):
    with limited(trusted_origins=["https://webcare.gemeente.nl"]) as client:
        data = {"username": "anna", "password": PASSWORD, "csrf_token": login_csrf(client)}
        headers = {"Origin": "https://webcare.gemeente.nl"}
        assert client.post("/login", data=data, headers=headers, follow_redirects=False).status_code == 303


def test_logging_out_from_another_site_is_refused(client, anna):
    log_in(client)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/queue").text).group(1)

    forged = client.post(
        "/logout", data={"csrf_token": token}, headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert client.get("/queue", follow_redirects=False).status_code == 200
    assert client.post("/logout", data={"csrf_token": "é"}, follow_redirects=False).status_code == 403
    own = client.post("/logout", data={"csrf_token": token}, headers={"Origin": "http://testserver"})
    assert own.status_code == 200 and "Je bent uitgelogd." in own.text


def test_a_non_ascii_csrf_header_on_the_api_is_a_403_not_a_500(client, anna):
    log_in(client)
    response = client.post(
        "/api/v1/tickets/1/notes", json={"text": "x"}, headers={"X-CSRF-Token": "é".encode("latin-1")}
    )
    assert response.status_code == 403
