"""Working a ticket: claiming, replying, notes, status changes, corrections and moves, all on the timeline."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, case, nulls_last, or_, text
from sqlmodel import Session, col, select

from models import (
    Category,
    Department,
    Direction,
    LabelledExample,
    Message,
    Outcome,
    Priority,
    ResponseFact,
    Role,
    Ticket,
    TicketStatus,
    TicketUpdate,
    TicketViewer,
    User,
)
from models.ticket import MAY_BE_WAITING
from service import outbox, routing, targets
from service.configuration import PipelineConfig
from service.errors import Conflict, Forbidden, InvalidField, NotFound
from service.tickets import record, to_public

# Every status change the workflow allows; anything else is refused with 409.
TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.new: frozenset({TicketStatus.open, TicketStatus.resolved, TicketStatus.closed}),
    TicketStatus.open: frozenset({TicketStatus.new, TicketStatus.waiting, TicketStatus.resolved}),
    TicketStatus.waiting: frozenset({TicketStatus.open, TicketStatus.resolved}),
    TicketStatus.resolved: frozenset({TicketStatus.closed, TicketStatus.reopened}),
    TicketStatus.closed: frozenset({TicketStatus.reopened}),
    TicketStatus.reopened: frozenset({TicketStatus.open, TicketStatus.resolved, TicketStatus.closed}),
}
CLAIMABLE = (TicketStatus.new, TicketStatus.reopened)
PRESENCE_SECONDS = 45


class StaleVersion(Conflict):
    def __init__(self, ticket: Ticket, current: dict):
        super().__init__(
            {
                "message": f"Ticket {ticket.id} was changed by someone else (now version {ticket.version}); "
                "reload it and try again",
                "current": current,
            }
        )


def lock_ticket(session: Session, ticket_id: int) -> Ticket:
    """The ticket, locked for this transaction (row lock on PostgreSQL; SQLite write transactions are serial)."""
    ticket = session.exec(select(Ticket).where(Ticket.id == ticket_id).with_for_update()).first()
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


def check_version(session: Session, ticket: Ticket, version: int | None) -> None:
    if version is not None and version != ticket.version:
        raise StaleVersion(ticket, to_public(session, [ticket])[0].model_dump(mode="json"))


def _touch(ticket: Ticket, now: datetime) -> None:
    ticket.version += 1
    ticket.updated_at = now


def _lease_holder(ticket: Ticket, now: datetime) -> int | None:
    """The agent who holds the ticket now, if the claim has not lapsed."""
    if ticket.assignee_id is not None and ticket.claimed_until is not None and ticket.claimed_until > now:
        return ticket.assignee_id
    return None


def ensure_can_work(session: Session, ticket: Ticket, user: User, now: datetime, lease: timedelta) -> None:
    """The caller may work the ticket if nobody else holds it; working it claims (or renews the claim)."""
    holder = _lease_holder(ticket, now)
    if holder is not None and holder != user.id:
        other = session.get(User, holder)
        name = other.username if other else "someone else"
        raise Conflict({"code": "held_by", "holder": name, "message": f"Ticket {ticket.id} is being handled by {name}"})
    if ticket.assignee_id != user.id:
        ticket.assignee_id = user.id
        record(session, ticket, "claimed", {"assignee": user.username, "implicit": True}, actor=user, at=now)
    ticket.claimed_until = now + lease
    if ticket.status in CLAIMABLE:
        _set_status(session, ticket, TicketStatus.open, user, now)


def claim_next(
    session: Session, department: Department, user: User, *, now: datetime, lease: timedelta
) -> Ticket | None:
    """Hand the caller the most urgent waiting ticket of the department, and nobody else.

    Order: nearest deadline, then priority, then age. PostgreSQL skips rows other claimers hold locked;
    on SQLite the write transaction (BEGIN IMMEDIATE) makes claims one at a time.
    """
    priority_rank = case((Ticket.priority == Priority.urgent, 2), (Ticket.priority == Priority.high, 1), else_=0)
    waiting_in_queue = or_(
        col(Ticket.status).in_(CLAIMABLE),
        and_(Ticket.status == TicketStatus.open, or_(col(Ticket.claimed_until).is_(None), Ticket.claimed_until <= now)),
    )
    ticket = session.exec(
        select(Ticket)
        # MAY_BE_WAITING adds nothing to waiting_in_queue: it is there so that the planner uses ix_tickets_waiting
        # (literal SQL, so that a prepared statement's generic plan can use it too).
        .where(Ticket.department_id == department.id, text(MAY_BE_WAITING), waiting_in_queue)
        .order_by(nulls_last(col(Ticket.next_due).asc()), priority_rank.desc(), col(Ticket.opened_at), col(Ticket.id))
        .limit(1)
        .with_for_update(skip_locked=True)
    ).first()
    if ticket is None:
        return None
    previous = session.get(User, ticket.assignee_id) if ticket.assignee_id else None
    ticket.assignee_id = user.id
    ticket.claimed_until = now + lease
    record(
        session,
        ticket,
        "claimed",
        {"assignee": user.username, "lapsed_from": previous.username if previous else None},
        actor=user,
        at=now,
    )
    if ticket.status != TicketStatus.open:
        _set_status(session, ticket, TicketStatus.open, user, now)
    _touch(ticket, now)
    session.add(ticket)
    session.flush()
    return ticket


def claim(session: Session, ticket: Ticket, user: User, *, now: datetime, lease: timedelta) -> None:
    """Claim this particular ticket (opened from the queue), unless a colleague holds it."""
    if ticket.status not in (*CLAIMABLE, TicketStatus.open):
        raise Conflict(f"Ticket {ticket.id} is {ticket.status}; only a waiting ticket can be claimed")
    ensure_can_work(session, ticket, user, now, lease)
    _touch(ticket, now)
    session.add(ticket)


def release(session: Session, ticket: Ticket, user: User, *, now: datetime) -> None:
    if ticket.assignee_id is None:
        raise Conflict(f"Ticket {ticket.id} is not claimed")
    if ticket.assignee_id != user.id and _lease_holder(ticket, now) is not None and user.role == Role.agent:
        raise Forbidden("Only the agent who holds this ticket, or a manager, can hand it back")
    record(session, ticket, "released", {"assignee": None}, actor=user, at=now)
    ticket.assignee_id = None
    ticket.claimed_until = None
    if ticket.status == TicketStatus.open:
        _set_status(session, ticket, TicketStatus.new, user, now)
    _touch(ticket, now)
    session.add(ticket)


def reply(
    session: Session,
    ticket: Ticket,
    user: User,
    text: str,
    *,
    config: PipelineConfig,
    now: datetime,
    lease: timedelta,
    template: str | None = None,
) -> list[ResponseFact]:
    """Store the agent's answer as an outbound message; the first one stamps the first response.

    Returns the response facts it completed (for metrics).
    """
    if ticket.status in (TicketStatus.resolved, TicketStatus.closed):
        raise Conflict(f"Ticket {ticket.id} is {ticket.status}; reopen it to reply")
    ensure_can_work(session, ticket, user, now, lease)
    message = Message(
        ticket_id=ticket.id,
        channel=ticket.channel,
        external_id=f"webcare-{uuid.uuid4()}",
        direction=Direction.outbound,
        author_handle=user.username,
        author_name=user.full_name,
        author_user_id=user.id,
        text=text,
        sent_at=now,
        conversation_id=ticket.conversation_id,
        received_at=now,
    )
    session.add(message)
    session.flush()
    outbox.enqueue_message(session, ticket, message, kind="reply", now=now)
    first = ticket.first_responded_at is None
    if first:
        ticket.first_responded_at = now
    facts = targets.complete_responses(session, ticket, config, at=now, agent_id=user.id)
    record(
        session,
        ticket,
        "replied",
        {"message_id": message.id, "first_response": first, "template": template},
        actor=user,
        at=now,
    )
    _touch(ticket, now)
    session.add(ticket)
    return facts


def add_note(session: Session, ticket: Ticket, user: User, text: str, *, now: datetime) -> None:
    record(session, ticket, "note", {"text": text}, actor=user, at=now)
    _touch(ticket, now)
    session.add(ticket)


def update(
    session: Session,
    ticket: Ticket,
    user: User,
    change: TicketUpdate,
    *,
    config: PipelineConfig,
    now: datetime,
    lease: timedelta,
) -> None:
    """Apply a PATCH: category correction (re-routes), move, priority, status; one version bump for all."""
    check_version(session, ticket, change.version)
    if change.category is not None:
        _recategorize(session, ticket, user, change.category, config=config, now=now)
    if change.department is not None:
        department = next((d for d in config.departments.values() if d.slug == change.department), None)
        if department is None:
            raise InvalidField("department", f"department '{change.department}' does not exist")
        _move(session, ticket, user, department.id, config=config, now=now, reason="moved by hand")
    if change.priority is not None and change.priority != ticket.priority:
        record(
            session, ticket, "priority_changed", {"from": ticket.priority, "to": change.priority}, actor=user, at=now
        )
        ticket.priority = change.priority
        targets.retarget(session, ticket, config)
    if change.status is not None and change.status != ticket.status:
        change_status(session, ticket, user, change.status, outcome=change.outcome, config=config, now=now, lease=lease)
    _touch(ticket, now)
    session.add(ticket)


def change_status(
    session: Session,
    ticket: Ticket,
    user: User,
    status: TicketStatus,
    *,
    outcome: Outcome | None,
    config: PipelineConfig,
    now: datetime,
    lease: timedelta,
) -> None:
    if status not in TRANSITIONS[ticket.status]:
        raise Conflict(f"A ticket that is {ticket.status} cannot become {status}")
    if status == TicketStatus.resolved and outcome is None:
        raise InvalidField("outcome", "say how the ticket was resolved (answered, forwarded, ...)")
    if status == TicketStatus.open:
        ensure_can_work(session, ticket, user, now, lease)
    if status == TicketStatus.new:
        ticket.assignee_id = None
        ticket.claimed_until = None
    if status == TicketStatus.reopened:
        reopen(session, ticket, user, config=config, now=now, start=now, reason="reopened by hand")
        return
    leaving_waiting = ticket.status == TicketStatus.waiting
    _set_status(session, ticket, status, user, now, outcome=outcome)
    if status == TicketStatus.waiting:
        targets.pause(session, ticket, at=now)
    if leaving_waiting:
        targets.resume(session, ticket, config, at=now)
    if status == TicketStatus.resolved:
        ticket.resolved_at = now
        ticket.outcome = outcome
        ticket.claimed_until = None
        targets.complete_resolution(session, ticket, config, at=now, agent_id=user.id)


def reopen(
    session: Session,
    ticket: Ticket,
    user: User | None,
    *,
    config: PipelineConfig,
    now: datetime,
    start: datetime,
    reason: str,
) -> None:
    """Back into the queue with fresh targets counted from `start` (the citizen's new message, or now)."""
    _set_status(session, ticket, TicketStatus.reopened, user, now, reason=reason)
    ticket.resolved_at = None
    ticket.outcome = None
    ticket.first_responded_at = None
    ticket.assignee_id = None
    ticket.claimed_until = None
    ticket.opened_at = start
    ticket.reopen_count += 1
    targets.start_cycle(session, ticket, config, start=start)


def citizen_wrote(session: Session, ticket: Ticket, *, config: PipelineConfig, now: datetime) -> None:
    """A citizen's message on an open ticket: resumes a clock that waited for them, or asks for a next answer."""
    if ticket.status == TicketStatus.waiting:
        _set_status(session, ticket, TicketStatus.open, None, now, reason="citizen answered")
        targets.resume(session, ticket, config, at=now)
    targets.start_next_response(session, ticket, config, start=now)
    _touch(ticket, now)
    session.add(ticket)


def _set_status(
    session: Session,
    ticket: Ticket,
    status: TicketStatus,
    user: User | None,
    now: datetime,
    **extra,
) -> None:
    data = {"from": ticket.status, "to": status, **{k: v for k, v in extra.items() if v is not None}}
    record(session, ticket, "status_changed", data, actor=user, at=now)
    ticket.status = status


def _recategorize(
    session: Session, ticket: Ticket, user: User, category: Category, *, config: PipelineConfig, now: datetime
) -> None:
    """A person's category decision: kept as a labelled example, and routing runs again with it."""
    triage = ticket.department_id == config.triage_department_id
    first_text = session.exec(
        select(Message.text)
        .where(Message.ticket_id == ticket.id, Message.direction == Direction.inbound)
        .order_by(col(Message.sent_at), col(Message.id))
    ).first()
    session.add(
        LabelledExample(
            text=first_text or "",
            label=category,
            predicted=ticket.category,
            source="triage" if triage else "correction",
            ticket_id=ticket.id,
            user_id=user.id,
            created_at=now,
        )
    )
    record(
        session,
        ticket,
        "category_changed",
        {"from": ticket.category, "to": category, "triage": triage},
        actor=user,
        at=now,
    )
    ticket.category = category
    if category != Category.public_space_report:
        ticket.subcategory = None
    decision = routing.route(
        routing.Case(
            category=category,
            confidence=1.0,  # a person decided
            channel=ticket.channel,
            text=first_text or "",
            urgent=ticket.urgent,
            sent_at=ticket.opened_at,
        ),
        config.rules,
        config.calendars,
        fallback_department_id=config.triage_department_id,
    )
    ticket.priority = max(decision.priority, ticket.priority, key=lambda p: p.rank)
    # A person decided: the classifier's confidence no longer applies.
    if decision.department_id != ticket.department_id:
        _move(
            session,
            ticket,
            user,
            decision.department_id,
            config=config,
            now=now,
            reason=f"rule: {decision.rule.name if decision.rule else 'fallback'}",
        )
    else:
        targets.retarget(session, ticket, config)


def _move(
    session: Session,
    ticket: Ticket,
    user: User,
    department_id: int,
    *,
    config: PipelineConfig,
    now: datetime,
    reason: str,
) -> None:
    record(
        session,
        ticket,
        "moved",
        {"from": config.slug(ticket.department_id), "to": config.slug(department_id), "reason": reason},
        actor=user,
        at=now,
    )
    ticket.department_id = department_id
    # The other team picks it up from its own queue.
    if ticket.assignee_id is not None:
        ticket.assignee_id = None
        ticket.claimed_until = None
        if ticket.status == TicketStatus.open:
            _set_status(session, ticket, TicketStatus.new, user, now, reason="moved to another team")
    targets.retarget(session, ticket, config)


def heartbeat(session: Session, ticket: Ticket, user: User, *, now: datetime, lease: timedelta) -> list[str]:
    """Note that the user has the ticket open; return who else has it open right now."""
    viewer = session.get(TicketViewer, (ticket.id, user.id))
    if viewer is None:
        session.add(TicketViewer(ticket_id=ticket.id, user_id=user.id, seen_at=now))
    else:
        viewer.seen_at = now
        session.add(viewer)
    # Having the ticket open is working on it: the holder's claim does not lapse while they write.
    if _lease_holder(ticket, now) == user.id:
        ticket.claimed_until = now + lease
        session.add(ticket)
    return viewers(session, ticket, now=now, excluding=user)


def viewers(session: Session, ticket: Ticket, *, now: datetime, excluding: User | None = None) -> list[str]:
    since = now - timedelta(seconds=PRESENCE_SECONDS)
    rows = session.exec(
        select(User.username)
        .join(TicketViewer, TicketViewer.user_id == User.id)
        .where(TicketViewer.ticket_id == ticket.id, TicketViewer.seen_at >= since)
        .order_by(User.username)
    ).all()
    return [name for name in rows if excluding is None or name != excluding.username]
