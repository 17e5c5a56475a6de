"""Tickets: taking a message in (dedupe, thread, classify, route, targets) and reading tickets back."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import func, nulls_last
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from classifier import Prediction
from models import (
    OPEN_STATUSES,
    Category,
    Channel,
    Department,
    Direction,
    Message,
    MessageCreate,
    MessagePublic,
    SlaState,
    Ticket,
    TicketDetail,
    TicketEvent,
    TicketEventPublic,
    TicketPublic,
    TicketStatus,
    User,
)
from service import routing, sla
from service.configuration import PipelineConfig
from service.errors import InvalidField, NotFound
from service.settings import Settings

log = logging.getLogger(__name__)
SYSTEM = "system"


class Classifies(Protocol):
    version: str

    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...


@dataclass(frozen=True)
class Ingested:
    created: bool
    message: Message
    ticket: Ticket


def record(session: Session, ticket: Ticket, kind: str, data: dict, *, actor: User | None = None, at=None) -> None:
    """Append one line to the ticket's timeline."""
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            kind=kind,
            data=data,
            actor=actor.username if actor else SYSTEM,
            actor_user_id=actor.id if actor else None,
            **({"at": at} if at else {}),
        )
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


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
    try:
        with session.begin_nested():
            ticket = _ticket_for(session, incoming, classifier=classifier, config=config, settings=settings)
            message = Message(
                **incoming.model_dump(), ticket_id=ticket.id, direction=Direction.inbound, received_at=now
            )
            session.add(message)
            session.flush()
            record(session, ticket, "message_received", {"message_id": message.id, "channel": message.channel})
    except IntegrityError:
        # Another request stored the same message a moment ago: answer as for any repeat.
        existing = find_existing(session, incoming.channel, incoming.external_id)
        if existing is None:
            raise
        log.info("duplicate message %s/%s arrived concurrently", incoming.channel, incoming.external_id)
        return Ingested(False, existing, session.get(Ticket, existing.ticket_id))
    return Ingested(True, message, ticket)


def _ticket_for(
    session: Session, incoming: MessageCreate, *, classifier: Classifies, config: PipelineConfig, settings: Settings
) -> Ticket:
    ticket = find_thread(session, incoming)
    if ticket is not None and ticket.status in OPEN_STATUSES:
        return ticket
    if (
        ticket is not None
        and ticket.status == TicketStatus.resolved
        and ticket.resolved_at is not None
        and incoming.sent_at - ticket.resolved_at <= timedelta(days=settings.reopen_window_days)
    ):
        return _reopen(session, ticket, incoming, config)
    return _new_ticket(session, incoming, classifier=classifier, config=config)


def _new_ticket(session: Session, incoming: MessageCreate, *, classifier: Classifies, config: PipelineConfig) -> Ticket:
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
        opened_at=incoming.sent_at,
    )
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
    set_targets(session, ticket, config, start=incoming.sent_at)
    return ticket


def _reopen(session: Session, ticket: Ticket, incoming: MessageCreate, config: PipelineConfig) -> Ticket:
    previous = ticket.status
    ticket.status = TicketStatus.reopened
    ticket.resolved_at = None
    ticket.first_responded_at = None
    ticket.opened_at = incoming.sent_at
    ticket.version += 1
    record(session, ticket, "status_changed", {"from": previous, "to": ticket.status, "reason": "citizen wrote again"})
    set_targets(session, ticket, config, start=incoming.sent_at)
    return ticket


def set_targets(session: Session, ticket: Ticket, config: PipelineConfig, *, start: datetime) -> None:
    policy = sla.choose_policy(
        config.policies, category=ticket.category, priority=ticket.priority, department_id=ticket.department_id
    )
    if policy is None:
        raise RuntimeError("No SLA policy matches; configure a catch-all policy (see fixtures/config/default.json).")
    targets = sla.compute_targets(policy, config.calendars[ticket.department_id], start)
    ticket.sla_policy_id = policy.id
    ticket.first_response_due = targets.first_response_due
    ticket.resolution_due = targets.resolution_due
    ticket.next_due = targets.first_response_due
    ticket.sla_state = SlaState.running
    session.add(ticket)
    session.flush()
    record(
        session,
        ticket,
        "targets_set",
        {
            "policy": policy.name,
            "clock": policy.clock,
            "from": _iso(start),
            "first_response_due": _iso(targets.first_response_due),
            "resolution_due": _iso(targets.resolution_due),
        },
    )


# Reading -----------------------------------------------------------------------------------------


def to_public(session: Session, tickets: Sequence[Ticket]) -> list[TicketPublic]:
    """Ticket rows as the API shows them, with department slugs and assignee names looked up in one go."""
    department_ids = {t.department_id for t in tickets}
    user_ids = {t.assignee_id for t in tickets if t.assignee_id is not None}
    slugs = (
        dict(session.exec(select(Department.id, Department.slug).where(col(Department.id).in_(department_ids))).all())
        if department_ids
        else {}
    )
    names = (
        dict(session.exec(select(User.id, User.username).where(col(User.id).in_(user_ids))).all()) if user_ids else {}
    )
    return [
        TicketPublic(
            **t.model_dump(exclude={"department_id", "assignee_id"}),
            department=slugs[t.department_id],
            assignee=names.get(t.assignee_id),
        )
        for t in tickets
    ]


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


def detail(session: Session, ticket: Ticket) -> TicketDetail:
    messages = session.exec(
        select(Message).where(Message.ticket_id == ticket.id).order_by(Message.sent_at, Message.id)
    ).all()
    events = session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)).all()
    return TicketDetail(
        **to_public(session, [ticket])[0].model_dump(),
        messages=[MessagePublic.model_validate(m, from_attributes=True) for m in messages],
        timeline=[TicketEventPublic.model_validate(e, from_attributes=True) for e in events],
    )


@dataclass(frozen=True)
class TicketFilter:
    department_ids: set[int] | None = None  # None: every department
    status: TicketStatus | None = None
    category: Category | None = None
    sla_state: SlaState | None = None


def list_tickets(session: Session, where: TicketFilter, *, limit: int, offset: int) -> tuple[list[Ticket], int]:
    conditions = []
    if where.department_ids is not None:
        conditions.append(col(Ticket.department_id).in_(where.department_ids))
    if where.status is not None:
        conditions.append(Ticket.status == where.status)
    if where.category is not None:
        conditions.append(Ticket.category == where.category)
    if where.sla_state is not None:
        conditions.append(Ticket.sla_state == where.sla_state)
    total = session.exec(select(func.count()).select_from(Ticket).where(*conditions)).one()
    rows = session.exec(
        select(Ticket)
        .where(*conditions)
        .order_by(nulls_last(col(Ticket.next_due).asc()), col(Ticket.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total
