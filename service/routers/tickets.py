"""Tickets: the filtered list, one ticket with its conversation and timeline, and working a ticket."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlmodel import select

from models import (
    Category,
    Department,
    NoteCreate,
    ReplyCreate,
    ReplyTemplate,
    SlaState,
    TargetKind,
    Ticket,
    TicketDetail,
    TicketPublic,
    TicketsPublic,
    TicketStatus,
    TicketUpdate,
    VersionRef,
)
from service import audit, tickets, workflow
from service.access import ensure_can_see, visible_department_ids
from service.configuration import load_pipeline_config
from service.deps import NowDep, SessionDep, SettingsDep, Staff
from service.routers import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/tickets", tags=["tickets"])


@router.get("", response_model=TicketsPublic)
def list_tickets(
    session: SessionDep,
    user: Staff,
    department: str | None = None,
    status: TicketStatus | None = None,
    category: Category | None = None,
    sla_state: SlaState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TicketsPublic:
    """Tickets ordered by the deadline that matters now (nearest first); agents see their own departments."""
    allowed = visible_department_ids(session, user)
    department_ids = allowed
    if department is not None:
        found = session.exec(select(Department.id).where(Department.slug == department)).first()
        wanted = {found} if found is not None else set()
        department_ids = wanted if allowed is None else wanted & allowed
    rows, total = tickets.list_tickets(
        session,
        tickets.TicketFilter(department_ids=department_ids, status=status, category=category, sla_state=sla_state),
        limit=limit,
        offset=offset,
    )
    return TicketsPublic(data=tickets.to_public(session, rows), count=total)


@router.get("/{ticket_id}", response_model=TicketDetail)
def read_ticket(request: Request, ticket_id: int, session: SessionDep, now: NowDep, user: Staff) -> TicketDetail:
    ticket = tickets.get_ticket(session, ticket_id)
    ensure_can_see(session, user, ticket)
    ip = audit.client_ip(request)
    audit.record_read(session, user=user, object_type="ticket", object_id=ticket.id, ip=ip, at=now)
    return tickets.detail(session, ticket, viewers=workflow.viewers(session, ticket, now=now, excluding=user))


def _working(session, ticket_id: int, user) -> Ticket:
    ticket = workflow.lock_ticket(session, ticket_id)
    ensure_can_see(session, user, ticket)
    return ticket


def _audit(request: Request, session, user, action: str, ticket: Ticket, now, detail: dict | None = None) -> None:
    audit.record(
        session,
        user=user,
        action=action,
        object_type="ticket",
        object_id=ticket.id,
        ip=audit.client_ip(request),
        detail=detail,
        at=now,
    )


def _public(session, ticket: Ticket) -> TicketPublic:
    session.flush()
    return tickets.to_public(session, [ticket])[0]


@router.patch("/{ticket_id}", response_model=TicketPublic, responses={409: {"description": "Stale or illegal"}})
def update_ticket(
    request: Request,
    ticket_id: int,
    change: TicketUpdate,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    user: Staff,
) -> TicketPublic:
    """Change status, category (a correction: re-routes and teaches the classifier), department or priority."""
    ticket = _working(session, ticket_id, user)
    workflow.update(
        session,
        ticket,
        user,
        change,
        config=load_pipeline_config(session, settings),
        now=now,
        lease=settings.claim_lease,
    )
    _audit(request, session, user, "update", ticket, now, change.model_dump(mode="json", exclude_unset=True))
    return _public(session, ticket)


@router.post("/{ticket_id}/claim", response_model=TicketPublic, responses={409: {"description": "Held by another"}})
def claim_ticket(
    request: Request, ticket_id: int, session: SessionDep, settings: SettingsDep, now: NowDep, user: Staff
) -> TicketPublic:
    """Claim this ticket (opened from the queue) unless a colleague holds it."""
    ticket = _working(session, ticket_id, user)
    workflow.claim(session, ticket, user, now=now, lease=settings.claim_lease)
    _audit(request, session, user, "claim", ticket, now)
    return _public(session, ticket)


@router.post("/{ticket_id}/release", response_model=TicketPublic)
def release_ticket(
    request: Request, ticket_id: int, session: SessionDep, now: NowDep, user: Staff, body: VersionRef | None = None
) -> TicketPublic:
    """Hand a claim back: the ticket returns to its queue at once."""
    ticket = _working(session, ticket_id, user)
    workflow.check_version(session, ticket, body.version if body else None)
    workflow.release(session, ticket, user, now=now)
    _audit(request, session, user, "release", ticket, now)
    return _public(session, ticket)


@router.post("/{ticket_id}/replies", response_model=TicketPublic, status_code=201)
def reply_to_ticket(
    request: Request,
    ticket_id: int,
    body: ReplyCreate,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    user: Staff,
) -> TicketPublic:
    """Answer the citizen; the first answer stops the first-response clock."""
    ticket = _working(session, ticket_id, user)
    workflow.check_version(session, ticket, body.version)
    template = session.get(ReplyTemplate, body.template_id) if body.template_id else None
    facts = workflow.reply(
        session,
        ticket,
        user,
        body.text,
        config=load_pipeline_config(session, settings),
        now=now,
        lease=settings.claim_lease,
        template=template.name if template else None,
    )
    for fact in facts:
        if fact.kind == TargetKind.first_response:
            department = tickets.department_of(session, ticket).slug
            request.app.state.metrics.first_response.labels(department).observe(fact.business_minutes)
    # The text is in the conversation; the trail says who answered, not what (it may hold personal data).
    _audit(request, session, user, "reply", ticket, now, {"template": template.name if template else None})
    return _public(session, ticket)


@router.post("/{ticket_id}/notes", response_model=TicketPublic, status_code=201)
def add_note(
    request: Request, ticket_id: int, body: NoteCreate, session: SessionDep, now: NowDep, user: Staff
) -> TicketPublic:
    """An internal note for colleagues; never sent to the citizen."""
    ticket = _working(session, ticket_id, user)
    workflow.add_note(session, ticket, user, body.text, now=now)
    _audit(request, session, user, "note", ticket, now)
    return _public(session, ticket)


@router.post("/{ticket_id}/presence", response_model=list[str])
def mark_presence(ticket_id: int, session: SessionDep, settings: SettingsDep, now: NowDep, user: Staff) -> list[str]:
    """Heartbeat from the ticket page: renews the caller's claim; returns who else has this ticket open."""
    ticket = tickets.get_ticket(session, ticket_id)
    ensure_can_see(session, user, ticket)
    return workflow.heartbeat(session, ticket, user, now=now, lease=settings.claim_lease)
