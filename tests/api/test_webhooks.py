"""Platform webhooks: signed samples become tickets, bad signatures leave no trace, nothing is stored or lost twice."""

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from models import Delivery, Message, Ticket, TicketEvent, WebhookEvent
from service import inbox, worker
from service.app import create_app
from service.channels.signing import sign_meta, sign_x
from service.db import session_scope
from service.deps import get_now
from tests.api.test_queue import at, post
from tests.conftest import make_settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "channels"
META_SECRET = "meta-app-secret-test"
X_SECRET = "x-consumer-secret-test"
VERIFY_TOKEN = "zuiderveen-verify"
HEADERS = {"meta": "X-Hub-Signature-256", "x": "x-twitter-webhooks-signature"}


def sign(source: str, raw: bytes, secret: str | None = None) -> str:
    if source == "meta":
        return sign_meta(raw, secret or META_SECRET)
    return sign_x(raw, secret or X_SECRET)


def sample(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def deliver(client, source: str, raw: bytes, signature: str | None = "sign") -> object:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[HEADERS[source]] = sign(source, raw) if signature == "sign" else signature
    return client.post(f"/webhooks/{source}", content=raw, headers=headers)


def counts(engine) -> tuple[int, int, int]:
    """Stored webhook calls, citizens' messages, tickets."""
    with Session(engine) as session:
        return (
            session.exec(select(func.count()).select_from(WebhookEvent)).one(),
            session.exec(select(func.count()).select_from(Message).where(Message.direction == "inbound")).one(),
            session.exec(select(func.count()).select_from(Ticket)).one(),
        )


def hook_settings(database_url, **overrides):
    secrets = {"meta_app_secret": META_SECRET, "meta_verify_token": VERIFY_TOKEN, "x_consumer_secret": X_SECRET}
    return make_settings(database_url, **{**secrets, **overrides})


@pytest.fixture
def hooks(db, database_url, stand_in, clock):
    app = create_app(hook_settings(database_url), classifier=stand_in)
    app.dependency_overrides[get_now] = clock
    with TestClient(app) as client:
        yield client


def raw_text(name: str) -> str:
    """The citizen's words where each platform puts them, read straight from the sample."""
    payload = json.loads(sample(name))
    if name.startswith("whatsapp"):
        return payload["entry"][0]["changes"][0]["value"]["messages"][0]["text"]["body"]
    if name == "facebook_comment.json":
        return payload["entry"][0]["changes"][0]["value"]["message"]
    if name in ("instagram_dm.json", "messenger_message.json"):
        return payload["entry"][0]["messaging"][0]["message"]["text"]
    if name == "instagram_comment.json":
        return payload["entry"][0]["changes"][0]["value"]["text"]
    if name == "x_direct_message.json":
        return payload["direct_message_events"][0]["message_create"]["message_data"]["text"]
    return payload["tweet_create_events"][0]["text"].replace("&amp;", "&")


SAMPLES = [
    ("meta", "whatsapp_text.json", "whatsapp", "31612345678", "Sanne de Vries"),
    ("meta", "facebook_comment.json", "facebook", "6823945107738215", "Kees Jansen"),
    ("meta", "messenger_message.json", "facebook", "8274019365520418", None),
    ("meta", "instagram_comment.json", "instagram", "@lotte.zuiderveen", None),
    ("meta", "instagram_dm.json", "instagram", "1093846271530498", None),
    ("x", "x_tweet_mention.json", "x", "@jdekker_zv", "Jeroen Dekker"),
    ("x", "x_direct_message.json", "x", "@wilmahendriks", "Wilma Hendriks"),
]


@pytest.mark.parametrize(("source", "name", "channel", "handle", "author_name"), SAMPLES)
def test_each_platforms_signed_sample_becomes_a_ticket(hooks, db, source, name, channel, handle, author_name):
    response = deliver(hooks, source, sample(name))

    assert response.status_code == 200, response.text
    assert response.json() == {"stored": True, "duplicate": False}
    with Session(db) as session:
        ticket = session.exec(select(Ticket)).one()
        message = session.exec(select(Message)).one()
        event = session.exec(select(WebhookEvent)).one()
    assert (ticket.channel, ticket.author_handle, ticket.author_name) == (channel, handle, author_name)
    assert (message.ticket_id, message.channel, message.text) == (ticket.id, channel, raw_text(name))
    assert (event.source, event.attempts, event.last_error) == (source, 1, None)
    assert event.processed_at is not None


@pytest.mark.parametrize("source", ["meta", "x"])
@pytest.mark.parametrize("problem", ["missing", "wrong secret", "tampered body", "malformed"])
def test_an_unsigned_or_wrongly_signed_call_gets_401_and_leaves_no_trace(hooks, db, source, problem, caplog):
    raw = sample("whatsapp_text.json" if source == "meta" else "x_tweet_mention.json")
    signature = {
        "missing": None,
        "wrong secret": sign(source, raw, "not-our-secret"),
        "tampered body": sign(source, raw),
        "malformed": "sha1=abc",
    }[problem]
    body = raw.replace(b"Goedemorgen", b"Goedenavond").replace(b"lantaarnpalen", b"lantaarns")
    sent = body if problem == "tampered body" else raw

    with caplog.at_level(logging.WARNING, logger="service.routers.webhooks"):
        response = deliver(hooks, source, sent, signature)

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or missing signature"}
    assert counts(db) == (0, 0, 0)
    assert f"webhook {source} refused" in caplog.text


@pytest.mark.parametrize("source", ["meta", "x"])
def test_without_a_configured_secret_every_call_is_refused_and_logged(client, db, source, caplog):
    raw = sample("whatsapp_text.json" if source == "meta" else "x_tweet_mention.json")
    with caplog.at_level(logging.ERROR, logger="service.routers.webhooks"):
        response = deliver(client, source, raw)
    assert response.status_code == 401
    assert counts(db) == (0, 0, 0)
    assert "is not set; every" in caplog.text


def test_a_platform_retry_of_the_same_call_stores_nothing_new_and_still_gets_200(hooks, db):
    raw = sample("whatsapp_text.json")
    first = deliver(hooks, "meta", raw)
    again = deliver(hooks, "meta", raw)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == {"stored": False, "duplicate": True}
    assert counts(db) == (1, 1, 1)


def test_the_same_message_in_a_differently_written_call_is_still_one_ticket(hooks, db):
    raw = sample("x_tweet_mention.json")
    rewritten = json.dumps(json.loads(raw), indent=4).encode()
    assert rewritten != raw
    deliver(hooks, "x", raw)
    deliver(hooks, "x", rewritten)
    assert counts(db) == (2, 1, 1)  # two calls stored, one message, one ticket


def test_a_signed_body_that_is_not_json_is_refused_with_400(hooks, db):
    assert deliver(hooks, "meta", b"not json at all").status_code == 400
    assert deliver(hooks, "meta", b"[1, 2]").status_code == 400
    assert counts(db) == (0, 0, 0)


def test_an_oversized_body_is_refused_before_it_is_read(hooks, db):
    big = b'{"object": "page", "entry": [], "padding": "' + b"x" * 1_000_000 + b'"}'
    declared = deliver(hooks, "meta", big)

    def chunks():  # no Content-Length: the limit holds while streaming
        for start in range(0, len(big), 64_000):
            yield big[start : start + 64_000]

    streamed = hooks.post(
        "/webhooks/meta",
        content=chunks(),
        headers={HEADERS["meta"]: sign("meta", big), "Content-Type": "application/json"},
    )
    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert counts(db) == (0, 0, 0)


def test_meta_handshake_echoes_the_challenge_only_for_our_verify_token(hooks):
    params = {"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN}
    ok = hooks.get("/webhooks/meta", params=params)
    assert (ok.status_code, ok.text, ok.headers["content-type"]) == (200, "1158201444", "text/plain; charset=utf-8")
    assert hooks.get("/webhooks/meta", params={**params, "hub.verify_token": "guess"}).status_code == 403
    assert hooks.get("/webhooks/meta").status_code == 403


def test_x_crc_check_answers_with_the_signed_token(hooks, client):
    response = hooks.get("/webhooks/x", params={"crc_token": "challenge-123"})
    assert response.status_code == 200
    assert response.json() == {"response_token": sign_x(b"challenge-123", X_SECRET)}
    assert client.get("/webhooks/x", params={"crc_token": "challenge-123"}).status_code == 401  # no secret set


def test_a_crash_between_storing_and_processing_loses_nothing(db, database_url, stand_in):
    settings = hook_settings(database_url)
    received = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
    raw = sample("whatsapp_image_caption.json")
    with session_scope(db) as session:  # the webhook stored it, then the process died
        inbox.store(session, "meta", raw, json.loads(raw), now=received)
    assert counts(db) == (1, 0, 0)

    # Within 30 seconds the request that stored it may still be processing it: the sweep leaves it alone.
    worker.run_jobs(db, settings, now=lambda: received + timedelta(seconds=20), classifier=lambda: stand_in)
    assert counts(db) == (1, 0, 0)
    worker.run_jobs(db, settings, now=lambda: received + timedelta(seconds=31), classifier=lambda: stand_in)

    assert counts(db) == (1, 1, 1)
    with Session(db) as session:
        ticket = session.exec(select(Ticket)).one()
        event = session.exec(select(WebhookEvent)).one()
    assert (ticket.channel, ticket.author_handle, ticket.category) == ("whatsapp", "31687654321", "public_space_report")
    assert (event.processed_at, event.attempts) == (received + timedelta(seconds=31), 1)


class Broken:
    version = "broken"

    def predict(self, texts):
        raise RuntimeError("model file unreadable")


def test_a_failed_processing_keeps_the_event_with_its_error_until_a_sweep_succeeds(db, database_url, stand_in):
    settings = hook_settings(database_url)
    received = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)
    raw = sample("whatsapp_text.json")
    with session_scope(db) as session:
        event_id = inbox.store(session, "meta", raw, json.loads(raw), now=received).id

    assert inbox.process(db, event_id, classifier=Broken(), settings=settings, now=received) == 0
    with Session(db) as session:
        event = session.get(WebhookEvent, event_id)
    assert (event.processed_at, event.attempts, event.last_error) == (None, 1, "message 0: RuntimeError")

    later = received + timedelta(minutes=1)
    assert inbox.process_pending(db, classifier=lambda: stand_in, settings=settings, now=later) == 1
    with Session(db) as session:
        event = session.get(WebhookEvent, event_id)
    assert (event.processed_at, event.attempts, event.last_error) == (later, 2, None)
    assert counts(db) == (1, 1, 1)


def test_whatsapp_receipts_update_the_replies_they_are_about(hooks, users, clock, db):
    clock.set(at(18, 10, 1))
    ticket = post(hooks, users, "wa1", "Hoe vraag ik een paspoort aan?", at(18, 10), channel="whatsapp")
    for text in ("Via de website.", "Of kom langs."):
        version = hooks.get(f"/api/v1/tickets/{ticket['id']}", headers=users["admin"]).json()["version"]
        hooks.post(
            f"/api/v1/tickets/{ticket['id']}/replies", json={"text": text, "version": version}, headers=users["admin"]
        )
    receipts = json.loads(sample("whatsapp_status.json"))["entry"][0]["changes"][0]["value"]["statuses"]
    with session_scope(db) as session:  # as the worker left them: accepted by WhatsApp, with its message id
        replies = session.exec(select(Delivery).where(Delivery.kind == "reply").order_by(Delivery.id)).all()
        for reply, receipt in zip(replies, receipts):
            reply.status, reply.remote_id, reply.attempts = "delivered", receipt["id"], 1
            session.add(reply)

    assert deliver(hooks, "meta", sample("whatsapp_status.json")).status_code == 200

    with Session(db) as session:
        delivered, failed = session.exec(select(Delivery).where(Delivery.kind == "reply").order_by(Delivery.id)).all()
        failures = session.exec(select(TicketEvent).where(TicketEvent.kind == "delivery_failed")).all()
    assert (delivered.status, delivered.payload["receipt"], delivered.payload["receipt_at"]) == (
        "delivered",
        "delivered",
        "2024-10-14T08:15:00+00:00",
    )
    assert failed.status == "dead"
    assert failed.last_error == (
        "WhatsApp did not deliver it: 131047 Re-engagement message Message failed to send because more than "
        "24 hours have passed since the customer last replied to this number."
    )
    assert [(e.ticket_id, e.data["delivery_id"], e.data["error"]) for e in failures] == [
        (ticket["id"], failed.id, failed.last_error)
    ]
    assert counts(db)[1:] == (1, 1)  # the receipts made no messages or tickets
