"""Reading tickets: the filtered list and one ticket with its conversation and timeline."""

from typing import Annotated

from fastapi import APIRouter, Query
from sqlmodel import select

from models import Category, Department, Role, SlaState, TicketDetail, TicketsPublic, TicketStatus
from service import auth, tickets
from service.deps import Reader, SessionDep
from service.errors import Forbidden

router = APIRouter(prefix="/tickets", tags=["tickets"])


def visible_departments(session, user) -> set[int] | None:
    """The departments whose tickets this user may see; None means all of them."""
    if user.role == Role.agent:
        return auth.department_ids(session, user)
    return None


@router.get("", response_model=TicketsPublic)
def list_tickets(
    session: SessionDep,
    user: Reader,
    department: str | None = None,
    status: TicketStatus | None = None,
    category: Category | None = None,
    sla_state: SlaState | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TicketsPublic:
    """Tickets ordered by the deadline that matters now (nearest first); agents see their own departments."""
    allowed = visible_departments(session, user)
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
def read_ticket(ticket_id: int, session: SessionDep, user: Reader) -> TicketDetail:
    ticket = tickets.get_ticket(session, ticket_id)
    allowed = visible_departments(session, user)
    if allowed is not None and ticket.department_id not in allowed:
        raise Forbidden("This ticket belongs to a department you do not work for")
    return tickets.detail(session, ticket)
