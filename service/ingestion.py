"""Taking a citizen's message in: deduplicate, thread, classify, route, set targets."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, or_, tuple_
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
from service.errors import InvalidField, WebcareError
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


class Lookup:
    """Stored messages and conversations' tickets, read with one query per question (a single message)."""

    def __init__(self, session: Session):
        self.session = session

    def message(self, channel: Channel, external_id: str) -> Message | None:
        return self.session.exec(
            select(Message).where(Message.channel == channel, Message.external_id == external_id)
        ).first()

    def ticket(self, ticket_id: int) -> Ticket:
        return self.session.get(Ticket, ticket_id)

    def latest_ticket(self, channel: Channel, conversation_id: str, author_handle: str) -> Ticket | None:
        return self.session.exec(
            select(Ticket)
            .where(
                Ticket.channel == channel,
                Ticket.conversation_id == conversation_id,
                Ticket.author_handle == author_handle,
            )
            .order_by(col(Ticket.id).desc())
        ).first()

    def stored(self, result: Ingested) -> None:
        """A message was stored (the database has it: nothing to remember)."""


class BatchLookup(Lookup):
    """The same answers for a whole batch, read in two queries before its first message and kept current as the
    batch stores its messages (a later message may repeat, continue or answer an earlier one of the same batch).

    Only for use inside the batch's transaction: what another transaction commits meanwhile is not seen, which the
    unique key on (channel, external_id) turns into an IntegrityError (see ingest_batch)."""

    def __init__(
        self,
        session: Session,
        messages: dict[tuple[Channel, str], Message],
        tickets: dict[int, Ticket],
        latest: dict[tuple[Channel, str, str], Ticket],
    ):
        super().__init__(session)
        self.messages, self.tickets, self.latest = messages, tickets, latest

    @classmethod
    def read(cls, session: Session, batch: Sequence[MessageCreate]) -> "BatchLookup":
        keys = {(m.channel, m.external_id) for m in batch}
        keys |= {(m.channel, m.in_reply_to) for m in batch if m.in_reply_to}
        messages = (
            session.exec(select(Message).where(tuple_(Message.channel, Message.external_id).in_(keys))).all()
            if keys
            else []
        )
        conversations = {(m.channel, m.conversation_id, m.author_handle) for m in batch if m.conversation_id}
        newest_ids = (
            select(func.max(Ticket.id))
            .where(tuple_(Ticket.channel, Ticket.conversation_id, Ticket.author_handle).in_(conversations))
            .group_by(Ticket.channel, Ticket.conversation_id, Ticket.author_handle)
        )
        wanted = [col(Ticket.id).in_({m.ticket_id for m in messages})]
        if conversations:
            wanted.append(col(Ticket.id).in_(newest_ids))
        tickets = {t.id: t for t in session.exec(select(Ticket).where(or_(*wanted))).all()}
        # Ascending ids: each conversation ends with its latest ticket.
        latest = {
            key: t
            for t in sorted(tickets.values(), key=lambda t: t.id)
            if (key := (t.channel, t.conversation_id, t.author_handle)) in conversations
        }
        return cls(session, {(m.channel, m.external_id): m for m in messages}, tickets, latest)

    def message(self, channel: Channel, external_id: str) -> Message | None:
        return self.messages.get((channel, external_id))

    def ticket(self, ticket_id: int) -> Ticket:
        return self.tickets.get(ticket_id) or super().ticket(ticket_id)

    def latest_ticket(self, channel: Channel, conversation_id: str, author_handle: str) -> Ticket | None:
        return self.latest.get((channel, conversation_id, author_handle))

    def stored(self, result: Ingested) -> None:
        message, ticket = result.message, result.ticket
        self.messages[(message.channel, message.external_id)] = message
        self.tickets[ticket.id] = ticket
        if result.new_ticket and ticket.conversation_id is not None:
            self.latest[(ticket.channel, ticket.conversation_id, ticket.author_handle)] = ticket


def find_thread(lookup: Lookup, incoming: MessageCreate) -> Ticket | None:
    """The ticket this message continues: the one it replies to, or its conversation's latest ticket."""
    if incoming.in_reply_to:
        parent = lookup.message(incoming.channel, incoming.in_reply_to)
        # A reply to another citizen's comment is that citizen's matter, not a continuation of this one's.
        if parent and (parent.direction == Direction.outbound or parent.author_handle == incoming.author_handle):
            return lookup.ticket(parent.ticket_id)
    if incoming.conversation_id:
        return lookup.latest_ticket(incoming.channel, incoming.conversation_id, incoming.author_handle)
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
    lookup = Lookup(session)
    existing = lookup.message(incoming.channel, incoming.external_id)
    if existing is not None:
        return Ingested(False, existing, lookup.ticket(existing.ticket_id))
    prepared = _prepare(incoming, settings=settings, now=now)
    try:
        with session.begin_nested():
            return _store(session, prepared, lookup, classifier=classifier, config=config, settings=settings, now=now)
    except IntegrityError:
        # Another request stored the same message a moment ago: answer as for any repeat.
        existing = lookup.message(incoming.channel, incoming.external_id)
        if existing is None:
            raise
        log.info("duplicate message %s/%s arrived concurrently", incoming.channel, incoming.external_id)
        return Ingested(False, existing, lookup.ticket(existing.ticket_id))


def ingest_batch(
    session: Session,
    batch: Sequence[MessageCreate],
    *,
    classifier: Classifies,
    config: PipelineConfig,
    settings: Settings,
    now: datetime,
) -> list[Ingested | WebcareError]:
    """Each message as ingest() takes it, in order; a message that is refused gets its error instead.

    The batch's stored messages and conversations are read up front and the whole batch is written under one
    savepoint, instead of a few queries and a savepoint per message. If that fails on the unique key (another request
    stored one of these messages meanwhile), or a message is refused after its writes began, the savepoint is rolled
    back and the batch goes again one message at a time, each in a savepoint of its own."""
    if not batch:
        return []
    try:
        with session.begin_nested():
            lookup = BatchLookup.read(session, batch)
            results: list[Ingested | WebcareError] = []
            for incoming in batch:
                existing = lookup.message(incoming.channel, incoming.external_id)
                if existing is not None:
                    results.append(Ingested(False, existing, lookup.ticket(existing.ticket_id)))
                    continue
                try:
                    prepared = _prepare(incoming, settings=settings, now=now)
                except WebcareError as refused:
                    results.append(refused)
                    continue
                results.append(
                    _store(session, prepared, lookup, classifier=classifier, config=config, settings=settings, now=now)
                )
            session.flush()
        return results
    except (IntegrityError, WebcareError) as exc:
        log.info("a batch of %d messages goes again one at a time (%s)", len(batch), type(exc).__name__)
    return [
        _ingest_or_refuse(session, incoming, classifier=classifier, config=config, settings=settings, now=now)
        for incoming in batch
    ]


def _ingest_or_refuse(session: Session, incoming: MessageCreate, **pipeline) -> Ingested | WebcareError:
    try:
        return ingest(session, incoming, **pipeline)
    except WebcareError as refused:
        return refused


@dataclass(frozen=True)
class Prepared:
    """A message checked and masked, ready to store: `incoming` carries only the masked text."""

    incoming: MessageCreate
    masked: privacy.Masked
    original_text_encrypted: str | None


def _prepare(incoming: MessageCreate, *, settings: Settings, now: datetime) -> Prepared:
    """What needs no database: the checks that may refuse the message (before anything is written), the masking."""
    if incoming.sent_at > now + timedelta(minutes=settings.max_future_skew_minutes):
        raise InvalidField("sent_at", f"lies in the future (now is {now.isoformat(timespec='seconds')})")
    # From here on only the masked text exists: the classifier, routing, the ticket, deliveries and exports.
    masked = privacy.mask(incoming.text)
    if not masked.findings:
        return Prepared(incoming, masked, None)
    encrypted = crypto.encrypt(settings, incoming.text) if settings.keep_original_text else None
    return Prepared(incoming.model_copy(update={"text": stored_text(masked)}), masked, encrypted)


def _store(
    session: Session,
    prepared: Prepared,
    lookup: Lookup,
    *,
    classifier: Classifies,
    config: PipelineConfig,
    settings: Settings,
    now: datetime,
) -> Ingested:
    incoming, masked = prepared.incoming, prepared.masked
    ticket, is_new = _ticket_for(
        session, incoming, lookup, classifier=classifier, config=config, settings=settings, now=now
    )
    message = Message(
        **incoming.model_dump(),
        ticket_id=ticket.id,
        direction=Direction.inbound,
        received_at=now,
        original_text_encrypted=prepared.original_text_encrypted,
    )
    session.add(message)
    session.flush()
    record(session, ticket, "message_received", {"message_id": message.id, "channel": message.channel})
    if masked.findings:
        record(session, ticket, "personal_data_masked", {"message_id": message.id, "found": found(masked)})
    result = Ingested(True, message, ticket, new_ticket=is_new)
    lookup.stored(result)
    return result


def _ticket_for(
    session: Session,
    incoming: MessageCreate,
    lookup: Lookup,
    *,
    classifier: Classifies,
    config: PipelineConfig,
    settings: Settings,
    now: datetime,
) -> tuple[Ticket, bool]:
    ticket = find_thread(lookup, incoming)
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
