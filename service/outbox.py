"""The transactional outbox: deliveries written in the same transaction as the ticket change that asks for them."""

import uuid
from datetime import datetime

from sqlmodel import Session

from models import Delivery, Direction, Message, Ticket
from service import reply_templates
from service.tickets import record

ACKNOWLEDGEMENT = {
    "nl": "We hebben je bericht ontvangen. {when} reageren we.",
    "en": "We have received your message. We will reply {when}.",
}


def report_payload(ticket: Ticket, text: str, *, permalink: str | None) -> dict:
    """What a receiving system needs about a report; personal handles stay with us."""
    return {
        "ticket_id": ticket.id,
        "text": text,
        "category": ticket.category,
        "subcategory": ticket.subcategory,
        "urgent": ticket.urgent,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "sent_at": ticket.sent_at.isoformat(),
        "permalink": permalink,
    }


def enqueue_reports(
    session: Session, ticket: Ticket, targets: tuple[str, ...], payload: dict, *, now: datetime
) -> None:
    for target in targets:
        session.add(
            Delivery(
                ticket_id=ticket.id,
                kind="report",
                target=target,
                payload=payload,
                idempotency_key=f"ticket-{ticket.id}-report-{target}",
                next_attempt_at=now,
                created_at=now,
            )
        )
        record(session, ticket, "delivery_queued", {"target": target, "kind": "report"}, at=now)


def enqueue_message(session: Session, ticket: Ticket, message: Message, *, kind: str, now: datetime) -> None:
    """An outbound message (a reply or an acknowledgement) to be sent back through the ticket's channel."""
    session.add(
        Delivery(
            ticket_id=ticket.id,
            message_id=message.id,
            kind=kind,
            target=ticket.channel,
            payload={
                "text": message.text,
                "to": ticket.author_handle,
                "conversation_id": ticket.conversation_id,
                "in_reply_to": message.in_reply_to,
            },
            idempotency_key=f"message-{message.id}",
            next_attempt_at=now,
            created_at=now,
        )
    )


def acknowledge(session: Session, ticket: Ticket, *, timezone: str, now: datetime, language: str = "nl") -> Message:
    """Tell the citizen when a person will answer. Not a response: the first-response clock keeps running."""
    # A promise already past (an urgent target, a late import) would be a broken promise: say "as soon as possible".
    due = ticket.first_response_due if ticket.first_response_due and ticket.first_response_due > now else None
    when = reply_templates.promise(due, timezone=timezone, language=language)
    text = ACKNOWLEDGEMENT[language].format(when=when[0].upper() + when[1:])
    message = Message(
        ticket_id=ticket.id,
        channel=ticket.channel,
        external_id=f"webcare-{uuid.uuid4()}",
        direction=Direction.outbound,
        author_handle="webcare",
        text=text,
        sent_at=now,
        received_at=now,
        conversation_id=ticket.conversation_id,
    )
    session.add(message)
    session.flush()
    record(session, ticket, "acknowledged", {"message_id": message.id, "text": text}, at=now)
    enqueue_message(session, ticket, message, kind="acknowledgement", now=now)
    return message
