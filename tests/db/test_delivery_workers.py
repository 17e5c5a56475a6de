"""Delivery workers against a real receiver on 127.0.0.1: failures, an outage, two workers, a dead worker, retries."""

import json
import random
import socket
import threading
import time
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from models import Delivery, Ticket, TicketEvent
from service import outbox
from service.app import create_app
from service.db import session_scope
from service.delivery import LEASE, Result, claim_due, record_result, run_deliveries, send
from service.senders import verify_webhook
from tests.api.test_queue import at, post
from tests.conftest import make_settings

WEBHOOK_SECRET = "intake-hmac-secret"
SIGNALEN_OTHER = "https://signalen.test/signals/v1/public/terms/categories/overig/sub_categories/overig"
ACKNOWLEDGEMENT = "We hebben je bericht ontvangen. Vóór maandag 23 november, 10.00 uur reageren we."


class Receiver:
    """The contact centre's intake, the public-space system and X in one: keeps what it accepts, by Idempotency-Key.

    A repeat of an accepted key is answered 200 and not accepted again, as a receiver should; `repeats` counts them.
    """

    def __init__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.failing = False
        self.failing_paths: set[str] = set()
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.accepted: dict[str, dict] = {}
        self.repeats: Counter[str] = Counter()
        self.bad_signatures = 0
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, answer = receiver.handle(self.path, self.headers, body)
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Down: the port is closed, connections are refused."""
        self.server.shutdown()
        self.server.server_close()

    def handle(self, path: str, headers, body: bytes) -> tuple[int, dict]:
        key = headers.get("Idempotency-Key", "")
        if path == "/intake" and not verify_webhook(
            body, headers.get("X-Webcare-Timestamp"), headers.get("X-Webcare-Signature"), WEBHOOK_SECRET
        ):
            with self.lock:
                self.bad_signatures += 1
            return 401, {"detail": "bad signature"}
        with self.lock:
            self.requests[key] += 1
            if self.failing or path in self.failing_paths:
                return 500, {"detail": "storing failed"}
            if key in self.accepted:
                self.repeats[key] += 1
            else:
                self.accepted[key] = {"path": path, "body": body, "at": time.monotonic()}
        remote = f"remote-{key}"
        return 201, {"id": remote, "signal_id": remote, "data": {"id": remote}}

    def paths(self) -> Counter[str]:
        return Counter(item["path"] for item in self.accepted.values())


@pytest.fixture
def receiver():
    receiver = Receiver()
    receiver.start()
    yield receiver
    if receiver.server is not None:
        try:
            receiver.stop()
        except OSError:
            pass


def worker_settings(database_url, base: str, **overrides):
    targets = {
        "buiten_kantoortijd": {"format": "webhook", "url": f"{base}/intake", "secret": WEBHOOK_SECRET},
        "openbare_ruimte": {
            "format": "signalen",
            "url": f"{base}/signals/v1/public/signals/",
            "codes": {"default": SIGNALEN_OTHER, "lon": "4.9", "lat": "52.37"},
        },
        "kapot": {"format": "open311", "url": f"{base}/broken", "codes": {"default": "OR-1"}},
    }
    return make_settings(
        database_url,
        delivery_targets=targets,
        delivery_max_attempts=4,
        x_api_url=base,
        x_bearer_token="x-user-token",
        **overrides,
    )


def run_two_workers(engine, settings, clock, rng) -> Counter[str]:
    """Two workers side by side until neither finds anything due; returns their counts added up."""
    start = threading.Barrier(2)
    results: list[dict] = []
    errors: list[BaseException] = []

    def work():
        try:
            start.wait()
            results.append(run_deliveries(engine, settings, now=clock, rng=rng, limit=5))
        except BaseException as exc:  # surfaced in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert len(results) == 2
    return sum((Counter(r) for r in results), Counter())


def deliveries(engine) -> list[Delivery]:
    with Session(engine) as session:
        return list(session.exec(select(Delivery).order_by(Delivery.id)).all())


def states(engine) -> Counter[tuple]:
    return Counter((d.status, d.attempts) for d in deliveries(engine))


def test_two_workers_deliver_everything_exactly_once_through_failures_an_outage_and_a_dead_letter(
    client, users, clock, db, database_url, receiver
):
    clock.set(at(21, 23, 0))  # Saturday night: reports go to the out-of-hours intake too
    tickets = [post(client, users, f"n{i}", f"Lantaarnpaal {i} kapot", at(21, 23)) for i in range(17)]
    with session_scope(db) as session:  # and one report for a system that keeps failing
        first = session.get(Ticket, tickets[0]["id"])
        outbox.enqueue_reports(session, first, ("kapot",), {"ticket_id": first.id, "text": "x"}, now=clock())
    everything = deliveries(db)
    keys = {d.idempotency_key for d in everything}
    broken = next(d for d in everything if d.target == "kapot")
    assert (len(everything), len(keys)) == (52, 52)  # 17 tickets x (2 reports + 1 acknowledgement) + 1
    settings = worker_settings(db.url.render_as_string(hide_password=False), receiver.base)
    rng = random.Random(6)
    receiver.failing_paths.add("/broken/requests.json")

    # 1. The receivers answer 500: every delivery is tried once, by one of the two workers, and waits.
    receiver.failing = True
    assert run_two_workers(db, settings, clock, rng) == {"pending": 52}
    assert receiver.requests == {key: 1 for key in keys}
    assert states(db) == {("pending", 1): 52}
    assert {d.last_error for d in deliveries(db)} == {"HTTP 500: storing failed"}
    assert all(clock() < d.next_attempt_at <= clock() + timedelta(seconds=30) for d in deliveries(db))

    # 2. Down: the port is closed. An hour later every retry is due and is refused.
    receiver.stop()
    clock.advance(hours=1)
    assert run_two_workers(db, settings, clock, rng) == {"pending": 52}
    assert states(db) == {("pending", 2): 52}
    assert all(d.last_error.startswith("ConnectError: ") for d in deliveries(db))

    # 3. Recovered: everything arrives, exactly once by key; only the broken system still fails.
    receiver.failing = False
    receiver.start()
    clock.advance(hours=1)
    assert run_two_workers(db, settings, clock, rng) == {"delivered": 51, "pending": 1}
    assert states(db) == {("delivered", 3): 51, ("pending", 3): 1}
    assert set(receiver.accepted) == keys - {broken.idempotency_key}
    assert receiver.requests == {key: 2 for key in keys}  # the 500 and the acceptance; none sent twice
    assert receiver.repeats == {}
    assert receiver.paths() == {"/intake": 17, "/signals/v1/public/signals/": 17, "/2/tweets": 17}
    assert receiver.bad_signatures == 0
    assert {d.remote_id for d in deliveries(db) if d.status == "delivered"} == {
        f"remote-{key}" for key in receiver.accepted
    }
    with Session(db) as session:
        delivered_events = session.exec(select(TicketEvent).where(TicketEvent.kind == "delivered")).all()
    assert len(delivered_events) == 51

    # 4. The always-failing target: after its 4th attempt (delivery_max_attempts) it is dead, with its error.
    clock.advance(hours=2)
    assert run_two_workers(db, settings, clock, rng) == {"dead": 1}
    dead = next(d for d in deliveries(db) if d.id == broken.id)
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 4, "HTTP 500: storing failed")
    with Session(db) as session:
        failed = session.exec(select(TicketEvent).where(TicketEvent.kind == "delivery_failed")).one()
    assert (failed.ticket_id, failed.data["attempts"], failed.data["error"]) == (
        first.id,
        4,
        "HTTP 500: storing failed",
    )
    clock.advance(hours=5)
    assert run_two_workers(db, settings, clock, rng) == {}  # dead stays dead

    # 5. Retried by hand once the system is fixed: it arrives, once.
    retried = client.post(f"/api/v1/deliveries/{broken.id}/retry", headers=users["admin"])
    assert retried.status_code == 200, retried.text
    receiver.failing_paths.clear()
    assert run_two_workers(db, settings, clock, rng) == {"delivered": 1}
    assert set(receiver.accepted) == keys
    assert receiver.repeats == {}
    assert states(db) == {("delivered", 3): 51, ("delivered", 1): 1}


def test_a_worker_that_dies_mid_delivery_is_taken_over_and_the_receiver_counts_it_once(
    client, users, clock, db, receiver
):
    clock.set(at(21, 23, 0))
    post(client, users, "n1", "Lantaarnpaal kapot bij de speeltuin", at(21, 23))
    settings = worker_settings(db.url.render_as_string(hide_password=False), receiver.base)
    with session_scope(db) as session:
        (victim,) = claim_due(session, now=clock(), limit=1, lease=LEASE)
    assert send(victim, settings).delivered  # it reached the receiver ... and then the worker died

    clock.advance(minutes=1)
    assert run_deliveries(db, settings, now=clock) == {"delivered": 2}  # the lease still holds the victim
    assert next(d for d in deliveries(db) if d.id == victim.id).status == "sending"

    clock.advance(seconds=LEASE.total_seconds())  # the lease has run out
    assert run_deliveries(db, settings, now=clock) == {"delivered": 1}
    taken_over = next(d for d in deliveries(db) if d.id == victim.id)
    assert (taken_over.status, taken_over.attempts) == ("delivered", 1)
    assert receiver.requests[victim.idempotency_key] == 2
    assert receiver.repeats == {victim.idempotency_key: 1}  # sent twice, counted once
    assert len(receiver.accepted) == 3

    # The dead worker comes back to life with a stale answer: it no longer holds the delivery, nothing changes.
    with session_scope(db) as session:
        late = record_result(
            session,
            victim.id,
            Result(False, error="late"),
            now=clock(),
            settings=settings,
            claimed_until=victim.locked_until,
        )
    assert late is None
    assert next(d for d in deliveries(db) if d.id == victim.id).status == "delivered"


def test_a_saturday_night_report_reaches_the_out_of_hours_intake_within_a_minute(client, users, clock, db, receiver):
    clock.set(at(21, 23, 0))
    ticket = post(client, users, "n1", "Lantaarnpaal kapot bij de speeltuin", at(21, 23))
    settings = worker_settings(db.url.render_as_string(hide_password=False), receiver.base)

    clock.advance(seconds=settings.delivery_poll_seconds)  # the worker's next poll
    run_deliveries(db, settings, now=clock)

    (intake,) = [item for item in receiver.accepted.values() if item["path"] == "/intake"]
    report = json.loads(intake["body"])
    assert (report["kind"], report["target"], report["ticket_id"]) == ("report", "buiten_kantoortijd", ticket["id"])
    assert (report["data"]["text"], report["data"]["category"]) == (
        "Lantaarnpaal kapot bij de speeltuin",
        "public_space_report",
    )
    with Session(db) as session:
        to_intake = session.exec(select(Delivery).where(Delivery.target == "buiten_kantoortijd")).one()
    assert to_intake.delivered_at - at(21, 23) <= timedelta(minutes=1)
    (tweet,) = [item for item in receiver.accepted.values() if item["path"] == "/2/tweets"]
    assert json.loads(tweet["body"]) == {"text": ACKNOWLEDGEMENT, "reply": {"in_reply_to_tweet_id": "n1"}}


def test_webcare_serve_sends_deliveries_from_its_own_loop(db, database_url, stand_in, users, receiver):
    settings = worker_settings(
        database_url, receiver.base, run_worker_in_process=True, delivery_poll_seconds=0.2, sweep_interval_seconds=1
    )
    with TestClient(create_app(settings, classifier=stand_in)) as client:
        # Real time: the report was sent last Saturday night, and arrives now.
        posted = time.monotonic()
        post(client, users, "n1", "Lantaarnpaal kapot bij de speeltuin", at(21, 23))
        deadline = posted + 30
        while len(receiver.accepted) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert receiver.paths() == {"/intake": 1, "/signals/v1/public/signals/": 1, "/2/tweets": 1}
    assert max(item["at"] for item in receiver.accepted.values()) - posted < 60


class Highest:
    def uniform(self, low, high):
        return high


def test_a_refusal_is_dead_at_once_a_429_waits_as_asked_and_other_failures_back_off(client, users, clock, db):
    clock.set(at(21, 23, 0))
    ticket = post(client, users, "n1", "Lantaarnpaal kapot bij de speeltuin", at(21, 23))
    settings = worker_settings(
        db.url.render_as_string(hide_password=False), "http://127.0.0.1:9", delivery_backoff_base_seconds=2
    )
    with session_scope(db) as session:
        refused, throttled, failed = claim_due(session, now=clock(), limit=3, lease=LEASE)
    outcomes = [
        (refused, Result(False, error="HTTP 400: location is required", permanent=True)),
        (throttled, Result(False, error="HTTP 429: slow down", retry_after=timedelta(minutes=10))),
        (failed, Result(False, error="HTTP 502: Bad Gateway")),
    ]
    with session_scope(db) as session:
        statuses = [
            record_result(session, d.id, r, now=clock(), settings=settings, rng=Highest(), claimed_until=d.locked_until)
            for d, r in outcomes
        ]

    assert statuses == ["dead", "pending", "pending"]
    after = {d.id: d for d in deliveries(db)}
    assert (after[refused.id].attempts, after[refused.id].last_error) == (1, "HTTP 400: location is required")
    assert after[throttled.id].next_attempt_at == clock() + timedelta(minutes=10)
    assert after[failed.id].next_attempt_at == clock() + timedelta(seconds=2)  # the configured base, first attempt
    with Session(db) as session:
        failures = session.exec(select(TicketEvent).where(TicketEvent.kind == "delivery_failed")).all()
    assert [(e.ticket_id, e.data) for e in failures] == [
        (
            ticket["id"],
            {
                "delivery_id": refused.id,
                "kind": refused.kind,
                "target": refused.target,
                "attempts": 1,
                "error": "HTTP 400: location is required",
            },
        )
    ]
