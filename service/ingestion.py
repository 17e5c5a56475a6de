"""Taking a citizen's message in: deduplicate, thread, classify, route, set targets."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from classifier import Prediction
from models import (
    MAX_TEXT_LENGTH,
    OPEN_STATUSES,
    Category,
    Channel,
    Direction,
    Message,
    MessageCreate,
    Ticket,
    TicketStatus,
)
from service import crypto, duplicates, outbox, privacy, routing, targets, workflow
from service.configuration import PipelineConfig
from service.errors import InvalidField
from service.settings import Settings
from service.tickets import record

log = logging.getLogger(__name__)


class Classifies(Protocol):
    version: str

    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...


@dataclass(frozen=True)
class Ingested:
    created: bool
    message: Message
    ticket: Ticket
    new_ticket: bool = False


def found(masked: privacy.Masked) -> dict[str, int]:
    """How many of each kind of personal data were masked: kinds and counts, never the values."""
    counts: dict[str, int] = {}
    for finding in masked.findings:
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    return dict(sorted(counts.items()))


def stored_text(masked: privacy.Masked) -> str:
    """The text kept of a message: masked, and within the API's limit (a placeholder can be longer than what it
    replaces)."""
    return masked.text[:MAX_TEXT_LENGTH]


class BatchClassifier:
    """A batch's texts classified in one call of the model (one call of many texts costs little more than one of a
    single text); a text it was not given goes to the model by itself."""

    def __init__(self, model: Classifies, messages: Sequence[MessageCreate]):
        self.version = model.version
        self._model = model
        texts = list(dict.fromkeys(stored_text(privacy.mask(m.text)) for m in messages))
        self._known = dict(zip(texts, model.predict(texts), strict=True)) if texts else {}

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        missing = [t for t in texts if t not in self._known]
        if missing:
            self._known.update(zip(missing, self._model.predict(missing), strict=True))
        return [self._known[t] for t in texts]


def find_existing(session: Session, channel: Channel, external_id: str) -> Message | None:
    return session.exec(select(Message).where(Message.channel == channel, Message.external_id == external_id)).first()


def find_thread(session: Session, incoming: MessageCreate) -> Ticket | None:
    """The ticket this message continues: the one it replies to, or its conversation's latest ticket."""
    if incoming.in_reply_to:
        parent = find_existing(session, incoming.channel, incoming.in_reply_to)
        # A reply to another citizen's comment is that citizen's matter, not a continuation of this one's.
        if parent and (parent.direction == Direction.outbound or parent.author_handle == incoming.author_handle):
            return session.get(Ticket, parent.ticket_id)
    if incoming.conversation_id:
        return session.exec(
            select(Ticket)
            .where(
                Ticket.channel == incoming.channel,
                Ticket.conversation_id == incoming.conversation_id,
                Ticket.author_handle == incoming.author_handle,
            )
            .order_by(col(Ticket.id).desc())
        ).first()
    return None


def ingest(
    session: Session,
    incoming: MessageCreate,
    *,
    classifier: Classifies,
    config: PipelineConfig,
    settings: Settings,
    now: datetime,
) -> Ingested:
    """Store one citizen's message and attach it to a ticket; a repeat of (channel, external_id) writes nothing."""
    existing = find_existing(session, incoming.channel, incoming.external_id)
    if existing is not None:
        return Ingested(False, existing, session.get(Ticket, existing.ticket_id))
    if incoming.sent_at > now + timedelta(minutes=settings.max_future_skew_minutes):
        raise InvalidField("sent_at", f"lies in the future (now is {now.isoformat(timespec='seconds')})")
    # From here on only the masked text exists: the classifier, routing, the ticket, deliveries and exports.
    masked = privacy.mask(incoming.text)
    original = incoming.text
    if masked.findings:
        incoming = incoming.model_copy(update={"text": stored_text(masked)})
    try:
        with session.begin_nested():
            ticket, is_new = _ticket_for(
                session, incoming, classifier=classifier, config=config, settings=settings, now=now
            )
            message = Message(
                **incoming.model_dump(),
                ticket_id=ticket.id,
                direction=Direction.inbound,
                received_at=now,
                original_text_encrypted=(
                    crypto.encrypt(settings, original) if masked.findings and settings.keep_original_text else None
                ),
            )
            session.add(message)
            session.flush()
            record(session, ticket, "message_received", {"message_id": message.id, "channel": message.channel})
            if masked.findings:
                record(session, ticket, "personal_data_masked", {"message_id": message.id, "found": found(masked)})
    except IntegrityError:
        # Another request stored the same message a moment ago: answer as for any repeat.
        existing = find_existing(session, incoming.channel, incoming.external_id)
        if existing is None:
            raise
        log.info("duplicate message %s/%s arrived concurrently", incoming.channel, incoming.external_id)
        return Ingested(False, existing, session.get(Ticket, existing.ticket_id))
    return Ingested(True, message, ticket, new_ticket=is_new)


def _ticket_for(
    session: Session,
    incoming: MessageCreate,
    *,
    classifier: Classifies,
    config: PipelineConfig,
    settings: Settings,
    now: datetime,
) -> tuple[Ticket, bool]:
    ticket = find_thread(session, incoming)
    if ticket is not None and ticket.status in OPEN_STATUSES:
        workflow.citizen_wrote(session, ticket, config=config, now=incoming.sent_at)
        return ticket, False
    if (
        ticket is not None
        and ticket.status == TicketStatus.resolved
        and ticket.resolved_at is not None
        and incoming.sent_at - ticket.resolved_at <= timedelta(days=settings.reopen_window_days)
    ):
        workflow.reopen(
            session,
            ticket,
            None,
            config=config,
            now=incoming.sent_at,
            start=incoming.sent_at,
            reason="citizen wrote again",
        )
        ticket.version += 1
        return ticket, False
    return _new_ticket(session, incoming, classifier=classifier, config=config, now=now), True


def _new_ticket(
    session: Session, incoming: MessageCreate, *, classifier: Classifies, config: PipelineConfig, now: datetime
) -> Ticket:
    prediction = classifier.predict([incoming.text])[0]
    category = Category(prediction.label)
    route = routing.route(
        routing.Case(
            category=category,
            confidence=prediction.confidence,
            channel=incoming.channel,
            text=incoming.text,
            urgent=prediction.urgent,
            sent_at=incoming.sent_at,
        ),
        config.rules,
        config.calendars,
        fallback_department_id=config.triage_department_id,
    )
    ticket = Ticket(
        channel=incoming.channel,
        conversation_id=incoming.conversation_id,
        author_handle=incoming.author_handle,
        author_name=incoming.author_name,
        category=category,
        subcategory=prediction.subcategory,
        confidence=prediction.confidence,
        model_version=classifier.version,
        urgent=prediction.urgent,
        reasons=list(prediction.reasons),
        department_id=route.department_id,
        priority=route.priority,
        routing_rule_id=route.rule.id if route.rule else None,
        sent_at=incoming.sent_at,
        opened_at=incoming.sent_at,
    )
    cycle = targets.plan_cycle(ticket, config, start=incoming.sent_at)
    session.add(ticket)
    session.flush()
    record(
        session,
        ticket,
        "classified",
        {
            "category": category,
            "subcategory": prediction.subcategory,
            "confidence": round(prediction.confidence, 4),
            "urgent": prediction.urgent,
            "reasons": list(prediction.reasons),
            "model_version": classifier.version,
        },
    )
    record(
        session,
        ticket,
        "routed",
        {
            "rule": route.rule.name if route.rule else None,
            "rule_id": route.rule.id if route.rule else None,
            "department": config.slug(route.department_id),
            "priority": route.priority,
            "office_hours_open": route.office_hours_open,
        },
    )
    targets.add_cycle(session, ticket, cycle)
    duplicates.link_duplicate(session, ticket, incoming.text)
    if route.rule is not None and route.rule.deliver_to:
        payload = outbox.report_payload(ticket, incoming.text, permalink=incoming.permalink)
        outbox.enqueue_reports(session, ticket, route.rule.deliver_to, payload, now=now)
    if route.rule is not None and route.rule.acknowledge:
        outbox.acknowledge(session, ticket, timezone=config.departments[ticket.department_id].timezone, now=now)
    return ticket
