"""Every route of the app, called as every role, answers what the table below says: a new route needs a row."""

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from starlette.routing import Mount

from models import Delivery, Role, User, UserSession, utcnow
from service import auth, web
from service.app import create_app
from service.channels.signing import sign_meta, sign_x
from tests.api.test_messages import message
from tests.conftest import make_settings

ROLES = ("anonymous", "integration", "other_agent", "agent", "manager", "admin")
USERS = {
    "integration": ("rm-feed", Role.integration, []),
    "other_agent": ("rm-comms", Role.agent, ["communicatie"]),  # tickets below belong to KCC
    "agent": ("rm-kcc", Role.agent, ["kcc"]),
    "manager": ("rm-manager", Role.manager, []),
    "admin": ("rm-admin", Role.admin, []),
}
PASSWORD = "correct horse battery staple"
META_SECRET, META_VERIFY, X_SECRET = "meta-app-secret", "meta-verify-token", "x-consumer-secret"
WEBHOOK_BODY = b'{"object": "page", "entry": []}'

# How a route knows who calls: a bearer token (the API), the session cookie (pages), the platform's signature
# (webhooks: a role's token changes nothing), or nobody (health, docs, static files).
TOKEN, SESSION, SIGNATURE, PUBLIC = "token", "session", "signature", "public"


def answers(anonymous, integration, other_agent, agent, manager, admin) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, integration, other_agent, agent, manager, admin), strict=True))


EVERYONE_200 = answers(200, 200, 200, 200, 200, 200)
STAFF_READ = answers(401, 403, 200, 200, 200, 200)  # agents see their own departments' part
OWN_DEPARTMENT = answers(401, 403, 403, 200, 200, 200)  # a KCC ticket or queue
MANAGERS = answers(401, 403, 403, 403, 200, 200)
INGEST = answers(401, 201, 403, 403, 403, 201)


def admins_only(success: int) -> dict[str, int]:
    return answers(401, 403, 403, 403, 403, success)


@dataclass
class Call:
    """One request as one role, with the ids its path and body need, made when first asked for."""

    world: "World"
    role: str
    ids: dict = field(default_factory=dict)

    def ticket(self) -> dict:
        if "ticket" not in self.ids:
            self.ids["ticket"] = self.world.new_ticket()
        return self.ids["ticket"]

    def fill(self, path: str) -> str:
        makers = {
            "ticket_id": lambda: self.ticket()["id"],
            "department": lambda: "kcc",
            "template_id": self.world.new_template,
            "delivery_id": lambda: self.world.delivery_of(self.ticket()["id"]),
            "token_id": self.world.new_token,
            "message_id": lambda: self.ticket()["message_id"],
        }
        return re.sub(r"\{(\w+)\}", lambda m: str(makers[m.group(1)]()), path)

    @property
    def version(self) -> int:
        return self.ticket()["version"]


@dataclass(frozen=True)
class Rule:
    by: str
    expected: dict[str, int]
    # Extra request arguments (json, params, data, headers), made for each call.
    request: Callable[[Call], dict] = lambda call: {}
    # A call with the platform's signature: what the platform itself gets.
    signed: Callable[[Call], dict] | None = None


def claimed_by_caller(call: Call) -> dict:
    """Handing a claim back needs a claim: the caller holds the ticket first (when their role may)."""
    if call.role in ("agent", "manager", "admin"):
        claimed = call.world.client.post(
            f"/api/v1/tickets/{call.ticket()['id']}/claim", headers=call.world.bearer[call.role]
        )
        assert claimed.status_code == 200, claimed.text
        call.ticket()["version"] = claimed.json()["version"]
    return {"json": {"version": call.version}}


def with_a_waiting_ticket(call: Call) -> dict:
    call.ticket()  # so that the queue is never empty (which would be a 204)
    return {}


def log_in_form(call: Call) -> dict:
    username = USERS[call.role][0] if call.role != "anonymous" else "nobody-at-all"
    token = secrets.token_urlsafe(32)
    return {
        "data": {"username": username, "password": PASSWORD, "csrf_token": token},
        "cookies": {web.LOGIN_CSRF_COOKIE: token},
    }


def signed_meta(call: Call) -> dict:
    return {"content": WEBHOOK_BODY, "headers": {"X-Hub-Signature-256": sign_meta(WEBHOOK_BODY, META_SECRET)}}


def signed_x(call: Call) -> dict:
    return {"content": WEBHOOK_BODY, "headers": {"x-twitter-webhooks-signature": sign_x(WEBHOOK_BODY, X_SECRET)}}


def a_template() -> dict:
    # Names are unique.
    return {"name": f"Bedankt {secrets.token_hex(4)}", "language": "nl", "body": "Bedankt voor je bericht, {naam}."}


TABLE: dict[tuple[str, str], Rule] = {
    # Documentation and health: public by design (keep /metrics on the internal network, see the README).
    ("GET", "/openapi.json"): Rule(PUBLIC, EVERYONE_200),
    ("GET", "/docs"): Rule(PUBLIC, EVERYONE_200),
    ("GET", "/docs/oauth2-redirect"): Rule(PUBLIC, EVERYONE_200),
    ("GET", "/redoc"): Rule(PUBLIC, EVERYONE_200),
    ("GET", "/healthz"): Rule(PUBLIC, EVERYONE_200),
    ("GET", "/readyz"): Rule(PUBLIC, EVERYONE_200),
    ("GET", "/metrics"): Rule(PUBLIC, EVERYONE_200),
    ("GET", "/static/{path}"): Rule(PUBLIC, EVERYONE_200),
    # Taking messages in.
    ("POST", "/api/v1/messages"): Rule(TOKEN, INGEST, lambda c: {"json": message(f"rm-{secrets.token_hex(6)}")}),
    ("POST", "/api/v1/messages/batch"): Rule(
        TOKEN,
        answers(401, 200, 403, 403, 403, 200),
        lambda c: {"json": {"messages": [message(f"rm-{secrets.token_hex(6)}")]}},
    ),
    # Tickets and queues.
    ("GET", "/api/v1/tickets"): Rule(TOKEN, STAFF_READ),
    ("GET", "/api/v1/tickets/{ticket_id}"): Rule(TOKEN, OWN_DEPARTMENT),
    ("PATCH", "/api/v1/tickets/{ticket_id}"): Rule(
        TOKEN, OWN_DEPARTMENT, lambda c: {"json": {"version": c.version, "priority": "high"}}
    ),
    ("POST", "/api/v1/tickets/{ticket_id}/claim"): Rule(TOKEN, OWN_DEPARTMENT),
    ("POST", "/api/v1/tickets/{ticket_id}/release"): Rule(TOKEN, OWN_DEPARTMENT, claimed_by_caller),
    ("POST", "/api/v1/tickets/{ticket_id}/replies"): Rule(
        TOKEN,
        answers(401, 403, 403, 201, 201, 201),
        lambda c: {"json": {"text": "We gaan ernaar kijken.", "version": c.version}},
    ),
    ("POST", "/api/v1/tickets/{ticket_id}/notes"): Rule(
        TOKEN, answers(401, 403, 403, 201, 201, 201), lambda c: {"json": {"text": "Doorgezet naar Stedin"}}
    ),
    ("POST", "/api/v1/tickets/{ticket_id}/presence"): Rule(TOKEN, OWN_DEPARTMENT),
    ("GET", "/api/v1/queue/{department}"): Rule(TOKEN, OWN_DEPARTMENT),
    ("POST", "/api/v1/queue/{department}/claim"): Rule(TOKEN, OWN_DEPARTMENT, with_a_waiting_ticket),
    # Reply templates.
    ("GET", "/api/v1/templates"): Rule(TOKEN, STAFF_READ),
    ("POST", "/api/v1/templates"): Rule(TOKEN, admins_only(201), lambda c: {"json": a_template()}),
    ("PATCH", "/api/v1/templates/{template_id}"): Rule(
        TOKEN, admins_only(200), lambda c: {"json": {"name": f"Dank {secrets.token_hex(4)}"}}
    ),
    ("DELETE", "/api/v1/templates/{template_id}"): Rule(TOKEN, admins_only(204)),
    ("GET", "/api/v1/tickets/{ticket_id}/templates"): Rule(TOKEN, OWN_DEPARTMENT),
    # Reports.
    ("GET", "/api/v1/reports/summary"): Rule(TOKEN, MANAGERS),
    ("GET", "/api/v1/reports/timeseries"): Rule(TOKEN, MANAGERS),
    ("GET", "/api/v1/reports/heatmap"): Rule(TOKEN, MANAGERS),
    ("GET", "/api/v1/reports/tickets.csv"): Rule(TOKEN, MANAGERS),
    # Configuration and deliveries.
    ("GET", "/api/v1/departments"): Rule(TOKEN, STAFF_READ),
    ("GET", "/api/v1/deliveries"): Rule(TOKEN, MANAGERS),
    ("POST", "/api/v1/deliveries/{delivery_id}/retry"): Rule(TOKEN, MANAGERS),
    ("GET", "/api/v1/tickets/{ticket_id}/deliveries"): Rule(TOKEN, OWN_DEPARTMENT),
    # Tokens, audit, privacy: admins.
    ("POST", "/api/v1/tokens"): Rule(TOKEN, admins_only(201), lambda c: {"json": {"username": "rm-feed"}}),
    ("GET", "/api/v1/tokens"): Rule(TOKEN, admins_only(200)),
    ("DELETE", "/api/v1/tokens/{token_id}"): Rule(TOKEN, admins_only(204)),
    ("GET", "/api/v1/audit"): Rule(TOKEN, admins_only(200)),
    ("GET", "/api/v1/audit.csv"): Rule(TOKEN, admins_only(200)),
    ("GET", "/api/v1/messages/{message_id}/original"): Rule(TOKEN, admins_only(200)),
    ("GET", "/api/v1/privacy/export"): Rule(TOKEN, admins_only(200), lambda c: {"params": {"handle": "@niemand"}}),
    ("POST", "/api/v1/privacy/erase"): Rule(TOKEN, admins_only(200), lambda c: {"json": {"handle": "@niemand"}}),
    # Webhooks: unsigned calls are refused whoever makes them; signed ones are taken.
    ("GET", "/webhooks/meta"): Rule(
        SIGNATURE,
        answers(403, 403, 403, 403, 403, 403),
        lambda c: {"params": {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "42"}},
        signed=lambda c: {"params": {"hub.mode": "subscribe", "hub.verify_token": META_VERIFY, "hub.challenge": "42"}},
    ),
    ("POST", "/webhooks/meta"): Rule(
        SIGNATURE, answers(401, 401, 401, 401, 401, 401), lambda c: {"content": WEBHOOK_BODY}, signed=signed_meta
    ),
    # X's challenge-response check answers anyone: the answer only proves that we hold the secret.
    ("GET", "/webhooks/x"): Rule(SIGNATURE, EVERYONE_200, lambda c: {"params": {"crc_token": "abc"}}),
    ("POST", "/webhooks/x"): Rule(
        SIGNATURE, answers(401, 401, 401, 401, 401, 401), lambda c: {"content": WEBHOOK_BODY}, signed=signed_x
    ),
    # Pages: the session cookie; without one, the log-in page (303); with one of the wrong role, 403.
    ("GET", "/"): Rule(SESSION, answers(303, 303, 303, 303, 303, 303)),
    ("GET", "/login"): Rule(SESSION, answers(200, 303, 303, 303, 303, 303)),
    ("POST", "/login"): Rule(SESSION, answers(401, 303, 303, 303, 303, 303), log_in_form),
    # The session's own CSRF token goes in the form (World.call adds it).
    ("POST", "/logout"): Rule(SESSION, answers(303, 303, 303, 303, 303, 303)),
    ("GET", "/queue"): Rule(SESSION, answers(303, 403, 200, 200, 200, 200)),
    ("GET", "/tickets/{ticket_id}"): Rule(SESSION, answers(303, 403, 403, 200, 200, 200)),
    ("GET", "/dashboard"): Rule(SESSION, answers(303, 403, 403, 403, 200, 200)),
}


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route, those of included routers too; a mount stands for what is under it."""
    found = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            found.add(("GET", route.path + "/{path}"))
            continue
        # HEAD is GET without the body; OPTIONS is not served.
        found |= {(method, route.path) for method in route.methods - {"HEAD", "OPTIONS"}}
    return found


class World:
    """The app with a user of every role (a token each, and a password for the log-in form)."""

    def __init__(self, client: TestClient, engine):
        self.client = client
        self.engine = engine
        self.bearer: dict[str, dict[str, str]] = {"anonymous": {}}
        # Real ids for the calls that are refused: what they would change is never changed.
        self.shared: dict = {}
        password_hash = auth.hash_password(PASSWORD)  # one slow hash for everyone
        with Session(engine) as session:
            for role, (username, user_role, departments) in USERS.items():
                user = auth.create_user(session, username, role=user_role, departments=departments)
                user.password_hash = password_hash
                session.add(user)
                self.bearer[role] = {"Authorization": f"Bearer {auth.create_token(session, username)}"}
            session.commit()

    def new_ticket(self) -> dict:
        # A public-space report for KCC, with a phone number: masked in storage, its original kept (encrypted).
        body = message(f"rm-{secrets.token_hex(6)}", text="Lantaarnpaal kapot, bel me op 06-12345678")
        created = self.client.post("/api/v1/messages", json=body, headers=self.bearer["integration"])
        assert created.status_code == 201, created.text
        ticket = created.json()["ticket"]
        assert ticket["department"] == "kcc"
        return {"id": ticket["id"], "version": ticket["version"], "message_id": created.json()["message_id"]}

    def new_template(self) -> int:
        created = self.client.post("/api/v1/templates", json=a_template(), headers=self.bearer["admin"])
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def new_token(self) -> int:
        created = self.client.post("/api/v1/tokens", json={"username": "rm-feed"}, headers=self.bearer["admin"])
        assert created.status_code == 201, created.text
        return created.json()["id"]

    def delivery_of(self, ticket_id: int) -> int:
        with Session(self.engine) as session:
            return session.exec(select(Delivery.id).where(Delivery.ticket_id == ticket_id)).first()

    def web_session(self, role: str) -> tuple[str, str]:
        """A fresh log-in of this role (made directly: the log-in form has its own row in the table)."""
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        with Session(self.engine) as session:
            user = session.exec(select(User).where(User.username == USERS[role][0])).one()
            now = utcnow()
            session.add(
                UserSession(
                    token_hash=auth.hash_token(token),
                    user_id=user.id,
                    csrf_token=csrf,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + timedelta(hours=1),
                )
            )
            session.commit()
        return token, csrf

    def call(self, method: str, path: str, rule: Rule, role: str, *, signed: bool = False):
        # Calls that succeed get ids of their own, so no call depends on what an earlier one changed.
        call = Call(self, role, self.shared if rule.expected[role] >= 300 and not signed else {})
        url = call.fill(path.replace("{path}", "app.css"))
        options = (rule.signed if signed else rule.request)(call)
        headers = {**options.pop("headers", {})}
        cookies = options.pop("cookies", {})
        if rule.by == SESSION and role != "anonymous":
            token, call.ids["csrf"] = self.web_session(role)
            cookies[auth.SESSION_COOKIE] = token
            if method == "POST" and path == "/logout":
                options["data"] = {"csrf_token": call.ids["csrf"]}
        elif rule.by != SESSION:
            headers.update(self.bearer[role])
        self.client.cookies.clear()
        for name, value in cookies.items():
            self.client.cookies.set(name, value)
        response = self.client.request(method, url, headers=headers, follow_redirects=False, **options)
        self.client.cookies.clear()
        return response


# Who may do what does not depend on the database: SQLite only, to keep the build fast.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def world(db, database_url, stand_in) -> Iterator[World]:
    settings = make_settings(
        database_url,
        secret_key="role-matrix-secret-key-of-some-length-0123456789",
        keep_original_text=True,
        meta_app_secret=META_SECRET,
        meta_verify_token=META_VERIFY,
        x_consumer_secret=X_SECRET,
        # Hundreds of calls from one address in a second: the limits have tests of their own.
        ingest_rate_per_token=0,
        ingest_rate_per_ip=0,
        login_rate_per_ip=0,
    )
    with TestClient(create_app(settings, classifier=stand_in)) as client:
        yield World(client, db)


def test_every_route_has_a_row_in_the_table():
    routes = app_routes(create_app(make_settings("sqlite://")))
    assert sorted(routes - set(TABLE)) == [], "add these routes to TABLE with each role's expected answer"
    assert sorted(set(TABLE) - routes) == [], "these rows name routes that no longer exist"


@SQLITE_ONLY
def test_every_route_answers_every_role_as_the_table_says(world):
    wrong = []
    for (method, path), rule in sorted(TABLE.items()):
        for role in ROLES:
            response = world.call(method, path, rule, role)
            if response.status_code != rule.expected[role]:
                wrong.append((method, path, role, rule.expected[role], response.status_code, response.text[:120]))
    assert wrong == []


def test_anonymous_and_wrong_role_calls_are_refused_everywhere_but_the_public_routes():
    """The table itself: no route that needs a token or a session lets an anonymous caller or an integration in."""
    for (method, path), rule in TABLE.items():
        if rule.by == TOKEN:
            assert rule.expected["anonymous"] == 401, (method, path)
            if rule.expected["integration"] != 403:  # integrations only feed messages in
                assert (method, path) in (("POST", "/api/v1/messages"), ("POST", "/api/v1/messages/batch"))
        if rule.by == SESSION and path not in ("/", "/login", "/logout"):
            assert (rule.expected["anonymous"], rule.expected["integration"]) == (303, 403), (method, path)


@SQLITE_ONLY
def test_signed_webhook_calls_are_taken(world):
    for (method, path), rule in TABLE.items():
        if rule.signed is not None:
            response = world.call(method, path, rule, "anonymous", signed=True)
            assert response.status_code == 200, (method, path, response.text)
