"""The web interface's server side: logging in and out, the session cookie, CSRF, redirects, language."""

import re
from pathlib import Path

import pytest
from sqlmodel import Session

from models import Category, Channel, Outcome, Priority, Role, SlaState, TicketStatus
from service import auth, i18n, web
from tests.api.test_messages import message

PASSWORD = "correct horse battery staple"
SERVICE = Path(__file__).resolve().parents[2] / "service"


@pytest.fixture
def person(db):
    """Makes people who log in with a password (each hash takes a moment: make only the ones a test needs)."""

    def create(username: str, role: Role = Role.agent, *departments: str, full_name: str | None = None) -> str:
        with Session(db) as session:
            auth.create_user(
                session, username, role=role, departments=list(departments), password=PASSWORD, full_name=full_name
            )
            session.commit()
        return username

    return create


@pytest.fixture
def anna(person) -> str:
    """A KCC agent."""
    return person("anna", Role.agent, "kcc", full_name="Anna")


def login_csrf(client) -> str:
    """The log-in form's CSRF token, as a browser gets it: from the form (which also sets its cookie)."""
    client.get("/login")
    return client.cookies.get(web.LOGIN_CSRF_COOKIE)


def log_in(client, username="anna", password=PASSWORD, **form):
    data = {"username": username, "password": password, "csrf_token": login_csrf(client), **form}
    return client.post("/login", data=data, follow_redirects=False)


def csrf_token(client) -> str:
    page = client.get("/queue")
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text).group(1)


def session_cookie(response) -> str | None:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{auth.SESSION_COOKIE}=")]
    return found[0] if found else None


def test_logging_in_sets_an_http_only_same_site_session_cookie_and_goes_on(client, anna):
    response = log_in(client, next="/tickets/7?tab=notes")

    assert response.status_code == 303
    assert response.headers["location"] == "/tickets/7?tab=notes"
    cookie = session_cookie(response)
    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert set(attributes) == {"httponly", "max-age", "path", "samesite"}
    assert attributes["samesite"].lower() == "samesite=lax"
    assert attributes["path"] == "Path=/"
    assert attributes["max-age"] == "Max-Age=43200"
    queue = client.get("/queue")
    assert queue.status_code == 200
    assert "Ingelogd als Anna" in queue.text


def test_over_https_the_cookie_is_secure(client, anna):
    direct = log_in(client)
    behind_proxy = client.post(
        "/login",
        data={"username": "anna", "password": PASSWORD, "csrf_token": login_csrf(client)},
        headers={"X-Forwarded-Proto": "https"},
        follow_redirects=False,
    )
    assert "secure" not in session_cookie(direct).lower()
    assert "; secure" in session_cookie(behind_proxy).lower()


def test_a_wrong_password_shows_the_error_sets_no_cookie_and_does_not_say_whether_the_user_exists(client, anna):
    wrong_password = log_in(client, password="wrong")
    unknown_user = log_in(client, username="nobody-here")
    empty = log_in(client, password="")

    for response in (wrong_password, unknown_user, empty):
        assert response.status_code == 401
        assert "Deze combinatie van gebruikersnaam en wachtwoord klopt niet." in response.text
        assert session_cookie(response) is None
    assert wrong_password.text.replace('value="anna"', "") == unknown_user.text.replace('value="nobody-here"', "")
    assert client.get("/queue", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("path", ["/queue", "/queue?department=kcc", "/tickets/1"])
def test_pages_send_visitors_without_a_session_to_the_login_page_and_back(client, anna, path):
    response = client.get(path, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + path.replace("/", "%2F").replace("?", "%3F").replace(
        "=", "%3D"
    )
    login = client.get(response.headers["location"])
    assert f'name="next" value="{path}"' in login.text
    assert "Log in om verder te gaan." in login.text


def test_a_stale_cookie_also_goes_to_the_login_page_and_home_goes_to_the_queue(client, anna):
    client.cookies.set(auth.SESSION_COOKIE, "not-a-session")
    assert client.get("/queue", follow_redirects=False).headers["location"] == "/login?next=%2Fqueue"
    assert client.get("/", follow_redirects=False).headers["location"] == "/queue"


OFF_SITE = [
    "https://evil.example/",
    "//evil.example/queue",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "/\r\nSet-Cookie:x=y",
    "evil.example",
    "",
    None,
    "/logout",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_safe_next_keeps_only_paths_on_this_site(target):
    assert web.safe_next(target) == "/queue"


@pytest.mark.parametrize("target", ["/queue?department=kcc", "/tickets/12", "/tickets/12?lang=en#reply"])
def test_safe_next_keeps_a_path_here_as_it_is(target):
    assert web.safe_next(target) == target


def test_next_never_leads_off_the_site_through_the_login_form(client, anna):
    for target in ("https://evil.example/", "//evil.example/queue", "/\\evil.example"):
        assert 'name="next" value="/queue"' in client.get("/login", params={"next": target}).text
    response = log_in(client, next="//evil.example/queue")
    assert response.status_code == 303
    assert response.headers["location"] == "/queue"


def test_an_api_change_with_the_session_cookie_needs_the_csrf_header(client, users, anna):
    ticket = client.post("/api/v1/messages", json=message(), headers=users["feed"]).json()["ticket"]
    log_in(client)
    token = csrf_token(client)
    url = f"/api/v1/tickets/{ticket['id']}/notes"

    assert client.get(f"/api/v1/tickets/{ticket['id']}").status_code == 200
    without = client.post(url, json={"text": "Gebeld met Stedin"})
    assert (without.status_code, without.json()) == (403, {"detail": "Missing or wrong CSRF token"})
    wrong = client.post(url, json={"text": "Gebeld met Stedin"}, headers={"X-CSRF-Token": token[:-1]})
    assert wrong.status_code == 403
    right = client.post(url, json={"text": "Gebeld met Stedin"}, headers={"X-CSRF-Token": token})
    assert right.status_code == 201
    timeline = client.get(f"/api/v1/tickets/{ticket['id']}").json()["timeline"]
    assert [(e["actor"], e["data"]) for e in timeline if e["kind"] == "note"] == [
        ("anna", {"text": "Gebeld met Stedin"})
    ]


def test_logging_out_ends_the_session_on_the_server(client, anna):
    log_in(client)
    token = csrf_token(client)
    cookie = client.cookies.get(auth.SESSION_COOKIE)

    refused = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/queue", follow_redirects=False).status_code == 200

    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?logged_out=true"
    assert re.search(rf'{auth.SESSION_COOKIE}=""; .*Max-Age=0', session_cookie(response))
    assert "Je bent uitgelogd." in client.get("/login?logged_out=true").text
    # The old cookie is worth nothing now, not even if someone kept a copy.
    client.cookies.set(auth.SESSION_COOKIE, cookie)
    assert client.get("/queue", follow_redirects=False).status_code == 303
    assert client.get("/api/v1/queue/kcc").status_code == 401


def test_lang_en_switches_the_language_and_the_choice_is_remembered(client, anna):
    dutch = client.get("/login")
    assert '<html lang="nl">' in dutch.text and "Gebruikersnaam" in dutch.text

    english = client.get("/login?lang=en")
    assert '<html lang="en">' in english.text
    assert "Username" in english.text and "Gebruikersnaam" not in english.text
    assert "webcare_lang=en" in english.headers["set-cookie"]

    log_in(client)
    queue = client.get("/queue")
    assert '<html lang="en">' in queue.text and "Claim next" in queue.text
    assert '<html lang="nl">' in client.get("/queue?lang=nl").text
    assert '<html lang="nl">' in client.get("/queue?lang=fr").text  # unknown: the remembered choice


def test_the_queue_offers_the_departments_a_person_may_see(client, anna, person):
    person("mila", Role.manager)
    log_in(client, "anna")
    own = client.get("/queue")
    assert "Wachtrij Klantcontactcentrum (KCC)" in own.text
    assert 'aria-label="Afdelingen"' not in own.text  # one department: no picker
    assert "Wachtrij Klantcontactcentrum (KCC)" in client.get("/queue?department=communicatie").text

    log_in(client, "mila")
    chosen = client.get("/queue?department=communicatie")
    assert "<h1>Wachtrij Communicatie</h1>" in chosen.text
    picker = re.findall(r'<li><a href="/queue\?department=([a-z-]+)"( aria-current="page")?>', chosen.text)
    assert picker == [("kcc", ""), ("communicatie", ' aria-current="page"'), ("triage", "")]
    assert chosen.headers["content-security-policy"].startswith("default-src 'self'")
    assert chosen.headers["cache-control"] == "no-store"


def test_a_ticket_page_is_only_for_people_who_may_see_the_ticket(client, users, anna, person):
    person("chris", Role.agent, "communicatie")
    person("robot", Role.integration)
    ticket = client.post("/api/v1/messages", json=message(), headers=users["feed"]).json()["ticket"]
    log_in(client, "chris")
    other_department = client.get(f"/tickets/{ticket['id']}")
    assert other_department.status_code == 403
    assert "Geen toegang" in other_department.text
    assert client.get(f"/tickets/{ticket['id'] + 1000}").status_code == 404

    log_in(client, "anna")
    page = client.get(f"/tickets/{ticket['id']}")
    assert page.status_code == 200
    assert "Antwoord aan Jan Burger" in page.text
    assert f'<meta name="csrf-token" content="{csrf_token(client)}">' in page.text

    log_in(client, "robot")
    assert client.get("/queue").status_code == 403


def test_the_dictionaries_have_the_same_keys_and_placeholders():
    dutch, english = i18n.STRINGS["nl"], i18n.STRINGS["en"]
    assert sorted(dutch) == sorted(english)

    def placeholders(text):
        return sorted(re.findall(r"\{(\w+)\}", text))

    assert [k for k in dutch if placeholders(dutch[k]) != placeholders(english[k])] == []


def test_every_string_the_pages_ask_for_exists():
    used = set()
    for path in [*SERVICE.glob("templates/*.html"), *SERVICE.glob("static/*.js")]:
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]+)["']\s*[,)]""", path.read_text(encoding="utf-8")))
    assert len(used) > 50
    assert sorted(used - set(i18n.STRINGS["nl"])) == []


@pytest.mark.parametrize(
    ("prefix", "enum"),
    [
        ("category", Category),
        ("channel", Channel),
        ("outcome", Outcome),
        ("priority", Priority),
        ("status", TicketStatus),
        ("sla", SlaState),
    ],
)
def test_every_value_the_api_can_send_has_a_label(prefix, enum):
    assert [value for value in enum if f"{prefix}.{value}" not in i18n.STRINGS["nl"]] == []
