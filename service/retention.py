"""Retention and citizens' rights: old tickets closed and anonymised, one handle's data exported or erased."""

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Text, cast, or_
from sqlmodel import Session, col, select

from models import (
    OPEN_STATUSES,
    Channel,
    Delivery,
    DeliveryStatus,
    Direction,
    LabelledExample,
    Message,
    Ticket,
    TicketEvent,
    TicketStatus,
    User,
    WebhookEvent,
)
from service import audit, crypto, privacy
from service.db import session_scope
from service.errors import Conflict
from service.settings import Settings
from service.tickets import record

log = logging.getLogger(__name__)

ANONYMIZED = "[geanonimiseerd]"
ERASED = "[verwijderd op verzoek]"
BATCH = 100
# Timeline data is ids, enums, times, staff names and department slugs, except these free texts: notes (staff
# write what citizens told them), acknowledgements, and errors that receivers may echo our payload in.
FREE_TEXT_KEYS = ("text", "error", "last_error")
# Parts of a name shorter than this ("de", "Li") would wipe ordinary words from every text.
MIN_NAME_PART = 3


# Scrubbing text --------------------------------------------------------------------------------------


def identifiers(handles: Iterable[str | None], names: Iterable[str | None]) -> list[str]:
    """What identifies the citizen in free text: handles (with and without "@"), names and their parts."""
    found: set[str] = set()
    for handle in filter(None, handles):
        found.update({handle, handle.lstrip("@")})
    for name in filter(None, names):
        found.add(name)
        # "Beste Jan," in a reply: the parts of a name, capitalised as names are written.
        found.update(part for part in re.split(r"[\s,]+", name) if part[:1].isupper())
    found -= {ANONYMIZED, ""}
    return sorted((word for word in found if len(word) >= MIN_NAME_PART), key=len, reverse=True)


def scrub(text: str, words: list[str]) -> str:
    """The text with personal data masked and the citizen's handles and names replaced."""
    text = privacy.mask(text).text
    if words:
        pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)")
        text = pattern.sub(ANONYMIZED, text)
    return text


def _scrub_data(data: dict, words: list[str], *, erase_text: bool) -> dict:
    cleaned = dict(data)
    for key in FREE_TEXT_KEYS:
        if isinstance(cleaned.get(key), str):
            cleaned[key] = ERASED if erase_text and key == "text" else scrub(cleaned[key], words)
    return cleaned


# Anonymising ---------------------------------------------------------------------------------------


def _anonymise_message(message: Message, words: list[str], *, erase: bool) -> None:
    if message.direction == Direction.inbound:
        message.author_handle = ANONYMIZED
        message.author_name = ANONYMIZED if message.author_name else None
        # A platform's message id leads back to the post, and so to its author.
        message.external_id = f"anon-{message.id}"
    # Replies are staff's words but name the citizen ("Beste Jan"): scrubbed too, or erased on request.
    message.text = ERASED if erase else scrub(message.text, words)
    message.original_text_encrypted = None
    message.permalink = None
    message.conversation_id = None  # on WhatsApp and in direct messages, the citizen's number or account id
    message.in_reply_to = None


def anonymise_ticket(session: Session, ticket: Ticket, *, now: datetime, erase: bool) -> Counter[str]:
    """Remove the citizen's personal data from a ticket and everything hanging off it; returns counts.

    Kept: categories, departments, times, targets, staff names (assignees, actors) and the timeline's shape.
    With `erase`, message texts and notes are replaced by ERASED rather than masked, and the ticket's
    labelled examples are deleted rather than masked.
    """
    counts: Counter[str] = Counter()
    messages = session.exec(select(Message).where(Message.ticket_id == ticket.id).order_by(col(Message.id))).all()
    inbound = [m for m in messages if m.direction == Direction.inbound]
    words = identifiers(
        [ticket.author_handle, *(m.author_handle for m in inbound)],
        [ticket.author_name, *(m.author_name for m in inbound)],
    )
    for message in messages:
        counts["masked"] += len(privacy.find_personal_data(message.text))
        counts["originals_removed"] += message.original_text_encrypted is not None
        _anonymise_message(message, words, erase=erase)
        session.add(message)
        counts["messages"] += 1

    for entry in session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)).all():
        cleaned = _scrub_data(entry.data, words, erase_text=erase and entry.kind == "note")
        if cleaned != entry.data:
            entry.data = cleaned
            session.add(entry)
            counts["timeline_entries"] += 1

    for delivery in session.exec(select(Delivery).where(Delivery.ticket_id == ticket.id)).all():
        payload = _scrub_data(delivery.payload, words, erase_text=erase)
        for key in ("to", "permalink", "conversation_id", "in_reply_to"):
            if payload.get(key) is not None:
                payload[key] = ANONYMIZED if key == "to" else None
        delivery.payload = payload
        if delivery.status in (DeliveryStatus.pending, DeliveryStatus.sending):
            # Nothing may go out to an address we no longer have.
            delivery.status = DeliveryStatus.dead
            delivery.locked_until = None
            delivery.last_error = "cancelled: the citizen's personal data was removed"
        elif delivery.last_error:
            delivery.last_error = scrub(delivery.last_error, words)
        session.add(delivery)
        counts["deliveries"] += 1

    for example in session.exec(select(LabelledExample).where(LabelledExample.ticket_id == ticket.id)).all():
        if erase:
            session.delete(example)
        else:
            example.text = scrub(example.text, words)
            session.add(example)
        counts["training_examples"] += 1

    ticket.author_handle = ANONYMIZED
    ticket.author_name = ANONYMIZED if ticket.author_name else None
    ticket.conversation_id = None
    ticket.anonymized_at = now
    ticket.updated_at = now
    ticket.version += 1
    session.add(ticket)
    record(session, ticket, "anonymized", {"reason": "request" if erase else "retention", **counts}, at=now)
    return counts


# The retention job ---------------------------------------------------------------------------------


def _close_resolved(session: Session, settings: Settings, *, now: datetime, after: int, limit: int) -> list[int]:
    """Close tickets resolved longer than auto_close_days ago (a citizen's reply no longer reopens them)."""
    tickets = session.exec(
        select(Ticket)
        .where(
            Ticket.status == TicketStatus.resolved,
            col(Ticket.resolved_at) <= now - timedelta(days=settings.auto_close_days),
            col(Ticket.id) > after,
        )
        .order_by(col(Ticket.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for ticket in tickets:
        reason = f"resolved more than {settings.auto_close_days} days ago"
        record(session, ticket, "status_changed", {"from": ticket.status, "to": TicketStatus.closed, "reason": reason})
        ticket.status = TicketStatus.closed
        ticket.claimed_until = None
        ticket.version += 1
        ticket.updated_at = now
        session.add(ticket)
        audit.record(
            session,
            user=audit.SYSTEM,
            action="close",
            object_type="ticket",
            object_id=ticket.id,
            detail={"reason": reason},
            at=now,
        )
    return [t.id for t in tickets]


def _anonymise_old(session: Session, settings: Settings, *, now: datetime, after: int, limit: int) -> list[int]:
    """Anonymise tickets closed (last changed) more than retention_days ago."""
    tickets = session.exec(
        select(Ticket)
        .where(
            Ticket.status == TicketStatus.closed,
            col(Ticket.updated_at) <= now - timedelta(days=settings.retention_days),
            # Anonymised, then reopened by hand and worked again: the new messages get their turn too.
            or_(col(Ticket.anonymized_at).is_(None), col(Ticket.anonymized_at) < col(Ticket.updated_at)),
            col(Ticket.id) > after,
        )
        .order_by(col(Ticket.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for ticket in tickets:
        counts = anonymise_ticket(session, ticket, now=now, erase=False)
        audit.record(
            session,
            user=audit.SYSTEM,
            action="anonymize",
            object_type="ticket",
            object_id=ticket.id,
            detail={"reason": "retention", "retention_days": settings.retention_days, **counts},
            at=now,
        )
    return [t.id for t in tickets]


def _empty_webhook_payloads(
    session: Session, settings: Settings, *, now: datetime, after: int, limit: int
) -> list[int]:
    """A webhook's raw body holds the unmasked text: kept only until it is processed, and a little longer."""
    processed_before = now - timedelta(hours=settings.webhook_payload_retention_hours)
    given_up_before = now - timedelta(days=settings.retention_days)
    events = session.exec(
        select(WebhookEvent)
        .where(
            or_(
                col(WebhookEvent.processed_at) <= processed_before,
                # Never processed (it kept failing): kept for a person to look at, but not past retention.
                col(WebhookEvent.received_at) <= given_up_before,
            ),
            cast(WebhookEvent.payload, Text) != "{}",
            col(WebhookEvent.id) > after,
        )
        .order_by(col(WebhookEvent.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for webhook_event in events:
        webhook_event.payload = {}
        session.add(webhook_event)
    return [e.id for e in events]


def _in_batches(engine: Engine, step: Callable[..., list[int]], *, limit: int) -> int:
    """Run a step in small committed transactions, walking the ids upwards (so it always ends)."""
    done, after = 0, 0
    while True:
        with session_scope(engine) as session:
            ids = step(session, after=after, limit=limit)
        done += len(ids)
        if len(ids) < limit:
            return done
        after = max(ids)


def run_retention(engine: Engine, settings: Settings, *, now: datetime, limit: int = BATCH) -> dict[str, int]:
    """The worker's retention job: close, anonymise, empty raw webhook bodies; returns counts."""
    counts = {
        "closed": _in_batches(engine, lambda s, **kw: _close_resolved(s, settings, now=now, **kw), limit=limit),
        "anonymized": _in_batches(engine, lambda s, **kw: _anonymise_old(s, settings, now=now, **kw), limit=limit),
        "webhook_payloads_emptied": _in_batches(
            engine, lambda s, **kw: _empty_webhook_payloads(s, settings, now=now, **kw), limit=limit
        ),
    }
    if any(counts.values()):
        log.info(
            "retention: %(closed)d closed, %(anonymized)d anonymised, %(webhook_payloads_emptied)d raw "
            "webhook bodies emptied",
            counts,
        )
    return counts


# A citizen's requests ----------------------------------------------------------------------------------


def _owned_tickets(session: Session, handle: str, channel: Channel | None) -> list[Ticket]:
    query = select(Ticket).where(Ticket.author_handle == handle)
    if channel is not None:
        query = query.where(Ticket.channel == channel)
    return list(session.exec(query.order_by(col(Ticket.id))).all())


def _stray_messages(session: Session, handle: str, channel: Channel | None, owned: set[int]) -> list[Message]:
    """The handle's messages on other citizens' tickets (a reply to our answer to someone else joins that ticket)."""
    query = select(Message).where(Message.author_handle == handle, Message.direction == Direction.inbound)
    if channel is not None:
        query = query.where(Message.channel == channel)
    return [m for m in session.exec(query.order_by(col(Message.id))).all() if m.ticket_id not in owned]


def _webhook_events(session: Session, handle: str) -> list[WebhookEvent]:
    # As a whole JSON string ("jan", not every word containing it); X and Instagram payloads omit the "@".
    needles = {json.dumps(handle), json.dumps(handle.lstrip("@"))}
    conditions = [cast(WebhookEvent.payload, Text).contains(needle, autoescape=True) for needle in needles]
    return list(session.exec(select(WebhookEvent).where(or_(*conditions)).order_by(col(WebhookEvent.id))).all())


def summary(session: Session, *, handle: str, channel: Channel | None) -> dict[str, int]:
    """How much is stored about a handle: tickets and messages (what an erasure would touch)."""
    owned = _owned_tickets(session, handle, channel)
    ids = [t.id for t in owned]
    on_owned = len(session.exec(select(Message.id).where(col(Message.ticket_id).in_(ids))).all()) if ids else 0
    return {"tickets": len(owned), "messages": on_owned + len(_stray_messages(session, handle, channel, set(ids)))}


def _message_json(message: Message, settings: Settings) -> dict[str, Any]:
    data = message.model_dump(mode="json", exclude={"original_text_encrypted"})
    if message.original_text_encrypted is not None:
        try:
            data["original_text"] = crypto.decrypt(settings, message.original_text_encrypted)
        except crypto.CannotDecrypt as exc:
            data["original_text"] = None
            data["original_text_unavailable"] = exc.message
    return data


def export_handle(session: Session, settings: Settings, *, handle: str, channel: Channel | None, now: datetime) -> dict:
    """Everything stored about a handle, as one JSON-ready document (a citizen's right of access)."""
    owned = _owned_tickets(session, handle, channel)
    documents = []
    for ticket in owned:
        messages = session.exec(select(Message).where(Message.ticket_id == ticket.id).order_by(col(Message.id))).all()
        timeline = session.exec(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(col(TicketEvent.id))
        ).all()
        deliveries = session.exec(select(Delivery).where(Delivery.ticket_id == ticket.id).order_by(col(Delivery.id)))
        examples = session.exec(
            select(LabelledExample).where(LabelledExample.ticket_id == ticket.id).order_by(col(LabelledExample.id))
        )
        documents.append(
            {
                **ticket.model_dump(mode="json"),
                "messages": [_message_json(m, settings) for m in messages],
                "timeline": [e.model_dump(mode="json", exclude={"ticket_id"}) for e in timeline],
                "deliveries": [d.model_dump(mode="json", exclude={"locked_until"}) for d in deliveries],
                "training_examples": [e.model_dump(mode="json", exclude={"user_id"}) for e in examples],
            }
        )
    strays = _stray_messages(session, handle, channel, {t.id for t in owned})
    return {
        "handle": handle,
        "channel": channel,
        "exported_at": now.isoformat(),
        "tickets": documents,
        "messages_on_other_tickets": [_message_json(m, settings) for m in strays],
        "webhook_events": [e.model_dump(mode="json") for e in _webhook_events(session, handle)],
    }


def erase_handle(
    session: Session, *, handle: str, channel: Channel | None, now: datetime, user: User | str, ip: str | None
) -> dict[str, Any]:
    """Anonymise everything stored about a handle at once, texts replaced by ERASED; refused while a ticket is open."""
    owned = _owned_tickets(session, handle, channel)
    still_open = [t.id for t in owned if t.status in OPEN_STATUSES]
    if still_open:
        # An open ticket is still being answered, and its response targets still run: resolve it first.
        raise Conflict(
            {
                "message": "Resolve or close these tickets before erasing the citizen's data",
                "open_ticket_ids": still_open,
            }
        )
    counts: Counter[str] = Counter()
    for ticket in owned:
        counts.update(anonymise_ticket(session, ticket, now=now, erase=True))
    for message in _stray_messages(session, handle, channel, {t.id for t in owned}):
        _anonymise_message(message, identifiers([handle], [message.author_name]), erase=True)
        session.add(message)
        counts["messages"] += 1
    for webhook_event in _webhook_events(session, handle):
        webhook_event.payload = {}
        session.add(webhook_event)
        counts["webhook_events"] += 1
    result = {"tickets": len(owned), **counts}
    # Ticket ids and counts, never the handle: the trail itself must not keep what was erased.
    audit.record(
        session,
        user=user,
        action="erase",
        object_type="citizen",
        ip=ip,
        detail={"channel": channel, "ticket_ids": [t.id for t in owned], **result},
        at=now,
    )
    return result


def record_export(session: Session, document: dict, *, user: User | str, ip: str | None, now: datetime) -> None:
    audit.record(
        session,
        user=user,
        action="export",
        object_type="citizen",
        ip=ip,
        detail={
            "channel": document["channel"],
            "ticket_ids": [t["id"] for t in document["tickets"]],
            "messages": sum(len(t["messages"]) for t in document["tickets"])
            + len(document["messages_on_other_tickets"]),
        },
        at=now,
    )
