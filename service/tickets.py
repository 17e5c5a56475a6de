"""Tickets: the timeline, response targets, and reading tickets back for the API."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, nulls_last
from sqlmodel import Session, col, select

from models import (
    OPEN_STATUSES,
    Category,
    Channel,
    Department,
    Direction,
    Message,
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
from service.errors import NotFound

log = logging.getLogger(__name__)
SYSTEM = "system"
WHATSAPP_REPLY_WINDOW = timedelta(hours=24)


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


# Reading -----------------------------------------------------------------------------------------


def to_public(
    session: Session,
    tickets: Sequence[Ticket],
    *,
    slugs: dict[int, str] | None = None,
    previews: dict[int, str] | None = None,
) -> list[TicketPublic]:
    """Ticket rows as the API shows them, with department slugs and assignee names looked up in one go.

    A caller that already knows departments' slugs or tickets' first texts passes them, and they are not read."""
    slugs = dict(slugs or {})
    previews = dict(previews or {})
    department_ids = {t.department_id for t in tickets} - slugs.keys()
    user_ids = {t.assignee_id for t in tickets if t.assignee_id is not None}
    if department_ids:
        slugs |= dict(
            session.exec(select(Department.id, Department.slug).where(col(Department.id).in_(department_ids))).all()
        )
    names = (
        dict(session.exec(select(User.id, User.username).where(col(User.id).in_(user_ids))).all()) if user_ids else {}
    )
    previews |= _previews(session, [t.id for t in tickets if t.id not in previews])
    return [
        TicketPublic(
            **t.model_dump(exclude={"department_id", "assignee_id"}),
            department=slugs[t.department_id],
            assignee=names.get(t.assignee_id),
            preview=previews[t.id][:PREVIEW_LENGTH] if t.id in previews else None,
        )
        for t in tickets
    ]


PREVIEW_LENGTH = 160


def _previews(session: Session, ticket_ids: list[int]) -> dict[int, str]:
    """The start of each ticket's first citizen message, for lists."""
    if not ticket_ids:
        return {}
    first = (
        select(Message.ticket_id, func.min(Message.id).label("first_id"))
        .where(col(Message.ticket_id).in_(ticket_ids), Message.direction == Direction.inbound)
        .group_by(Message.ticket_id)
        .subquery()
    )
    rows = session.exec(select(Message.ticket_id, Message.text).join(first, Message.id == first.c.first_id)).all()
    return {ticket_id: text[:PREVIEW_LENGTH] for ticket_id, text in rows}


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


def detail(session: Session, ticket: Ticket, *, viewers: list[str] = ()) -> TicketDetail:
    messages = session.exec(
        select(Message).where(Message.ticket_id == ticket.id).order_by(Message.sent_at, Message.id)
    ).all()
    events = session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)).all()
    return TicketDetail(
        **to_public(session, [ticket])[0].model_dump(),
        messages=[
            MessagePublic.model_validate(m, from_attributes=True).model_copy(
                update={"automatic": m.direction == Direction.outbound and m.author_user_id is None}
            )
            for m in messages
        ],
        timeline=[TicketEventPublic.model_validate(e, from_attributes=True) for e in events],
        viewers=list(viewers),
        reply_window_closes_at=reply_window_closes_at(ticket, messages),
    )


def reply_window_closes_at(ticket: Ticket, messages: Sequence[Message]) -> datetime | None:
    """WhatsApp lets a business answer freely only within 24 hours of the citizen's last message."""
    if ticket.channel != Channel.whatsapp:
        return None
    inbound = [m.sent_at for m in messages if m.direction == Direction.inbound]
    return max(inbound) + WHATSAPP_REPLY_WINDOW if inbound else None


@dataclass(frozen=True)
class TicketFilter:
    department_ids: set[int] | None = None  # None: every department
    status: TicketStatus | None = None
    category: Category | None = None
    sla_state: SlaState | None = None
    open_only: bool = False


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
    if where.open_only:
        conditions.append(col(Ticket.status).in_(OPEN_STATUSES))
    total = session.exec(select(func.count()).select_from(Ticket).where(*conditions)).one()
    rows = session.exec(
        select(Ticket)
        .where(*conditions)
        .order_by(nulls_last(col(Ticket.next_due).asc()), col(Ticket.id))
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), total


def department_of(session: Session, ticket: Ticket) -> Department:
    return session.get(Department, ticket.department_id)
