"""The webhook inbox: a platform's call is stored as received first, then turned into tickets."""

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from models import MessageCreate, Ticket, WebhookEvent
from service import delivery, ingestion
from service.channels import PayloadError, meta, x
from service.configuration import PipelineConfig, load_pipeline_config
from service.db import session_scope
from service.errors import WebcareError
from service.settings import Settings

log = logging.getLogger(__name__)

# The request that stored an event processes it at once; the worker's sweep takes what is still waiting after
# this, such as the events of a process that stopped between storing and processing.
STALE_AFTER = timedelta(seconds=30)
# An event that keeps failing stays unprocessed, with its last error, for a person to look at.
MAX_ATTEMPTS = 10
ERROR_LENGTH = 500
SOURCES = ("meta", "x")

NewTicketHook = Callable[[Ticket, PipelineConfig], None]


def body_digest(raw_body: bytes) -> str:
    return hashlib.sha256(raw_body).hexdigest()


def store(session: Session, source: str, raw_body: bytes, payload: Any, *, now: datetime) -> WebhookEvent | None:
    """The stored event, or None when this exact body was stored before (a platform's retry of the same call)."""
    digest = body_digest(raw_body)
    if session.exec(select(WebhookEvent.id).where(WebhookEvent.body_sha256 == digest)).first() is not None:
        return None
    event = WebhookEvent(source=source, body_sha256=digest, payload=payload, received_at=now)
    try:
        with session.begin_nested():
            session.add(event)
    except IntegrityError:
        return None  # the same retry, stored a moment ago by another request
    return event


def parse(source: str, payload: Any) -> tuple[list[MessageCreate], list[dict[str, Any]]]:
    """The citizens' messages and the WhatsApp delivery receipts in one webhook call."""
    if source == "meta":
        return meta.parse_webhook(payload), meta.parse_whatsapp_statuses(payload)
    if source == "x":
        return x.parse_webhook(payload), []
    raise PayloadError(f"unknown webhook source {source!r}")


def process(
    engine: Engine,
    event_id: int,
    *,
    classifier: ingestion.Classifies,
    settings: Settings,
    now: datetime,
    on_new_ticket: NewTicketHook | None = None,
) -> int:
    """Ingest each message of a stored event in its own transaction, then mark it processed; returns new messages.

    Running it twice is harmless: ingest writes nothing for a (channel, external_id) it has.
    """
    with session_scope(engine, write=False) as session:
        event = session.get(WebhookEvent, event_id)
        if event is None or event.processed_at is not None:
            return 0
        source, payload = event.source, event.payload
        config = load_pipeline_config(session, settings)
    problems: list[str] = []
    try_again = False
    try:
        messages, receipts = parse(source, payload)
    except PayloadError as exc:
        problems.append(str(exc))
        messages, receipts = [], []
    created = 0
    for position, incoming in enumerate(messages):
        try:
            with session_scope(engine) as session:
                result = ingestion.ingest(
                    session, incoming, classifier=classifier, config=config, settings=settings, now=now
                )
        except WebcareError as exc:
            # Refused for good (e.g. sent_at in the future): waiting will not change that.
            problems.append(f"message {position} refused: {describe_detail(exc.message)}")
            continue
        except Exception as exc:  # whatever it was, the event is kept for the next attempt
            try_again = True
            problems.append(f"message {position}: {type(exc).__name__}")
            # SQL errors carry the statement's parameters (citizens' texts) in their message and traceback.
            log.error(
                "webhook event %s: message %d failed: %s",
                event_id,
                position,
                type(exc).__name__,
                exc_info=not isinstance(exc, SQLAlchemyError),
            )
            continue
        if result.created:
            created += 1
        if result.new_ticket and on_new_ticket is not None:
            on_new_ticket(result.ticket, config)
    if receipts:
        try:
            with session_scope(engine) as session:
                delivery.apply_whatsapp_receipts(session, receipts, now=now)
        except SQLAlchemyError as exc:
            try_again = True
            problems.append(f"receipts: {type(exc).__name__}")
    with session_scope(engine) as session:
        event = session.get(WebhookEvent, event_id)
        event.attempts += 1
        event.last_error = "; ".join(problems)[:ERROR_LENGTH] or None
        if not try_again:
            event.processed_at = now
        session.add(event)
    log.info("webhook event %s (%s): %d new message(s) of %d", event_id, source, created, len(messages))
    return created


def describe_detail(detail: Any) -> str:
    # WebcareError details are a message or a list of pydantic-style problems; neither holds the citizen's text.
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(map(str, p.get('loc', [])))}: {p.get('msg')}" for p in detail)
    return str(detail)


def pending_ids(session: Session, *, now: datetime, older_than: timedelta = STALE_AFTER, limit: int = 100) -> list[int]:
    return list(
        session.exec(
            select(WebhookEvent.id)
            .where(
                col(WebhookEvent.processed_at).is_(None),
                WebhookEvent.attempts < MAX_ATTEMPTS,
                WebhookEvent.received_at <= now - older_than,
            )
            .order_by(col(WebhookEvent.received_at), col(WebhookEvent.id))
            .limit(limit)
        ).all()
    )


def process_pending(
    engine: Engine,
    *,
    classifier: Callable[[], ingestion.Classifies],
    settings: Settings,
    now: datetime,
    older_than: timedelta = STALE_AFTER,
) -> int:
    """The worker's sweep: process events still waiting after `older_than`; returns how many it took up.

    `classifier` is called only when there is work, so a worker without a trained model still sends deliveries.
    """
    with session_scope(engine, write=False) as session:
        waiting = pending_ids(session, now=now, older_than=older_than)
    if not waiting:
        return 0
    log.warning("webhook inbox: %d event(s) left unprocessed; processing them now", len(waiting))
    model = classifier()
    for event_id in waiting:
        process(engine, event_id, classifier=model, settings=settings, now=now)
    return len(waiting)
