"""The shared queue: claim the most urgent ticket of a department."""

from fastapi import APIRouter, Response, status

from models import TicketPublic, TicketsPublic
from service import tickets, workflow
from service.access import department_by_slug, ensure_works_for
from service.deps import NowDep, SessionDep, SettingsDep, Staff
from service.routers import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/queue", tags=["queue"])


@router.get("/{department}", response_model=TicketsPublic)
def read_queue(department: str, session: SessionDep, user: Staff, limit: int = 100) -> TicketsPublic:
    """The department's open tickets, nearest deadline first (what the queue page shows)."""
    team = department_by_slug(session, department)
    ensure_works_for(session, user, team)
    rows, total = tickets.list_tickets(
        session, tickets.TicketFilter(department_ids={team.id}, open_only=True), limit=min(limit, 500), offset=0
    )
    return TicketsPublic(data=tickets.to_public(session, rows), count=total)


@router.post(
    "/{department}/claim",
    response_model=TicketPublic,
    responses={204: {"description": "Nothing is waiting in this queue"}},
)
def claim_next_ticket(
    department: str, session: SessionDep, settings: SettingsDep, now: NowDep, user: Staff
) -> TicketPublic | Response:
    team = department_by_slug(session, department)
    ensure_works_for(session, user, team)
    ticket = workflow.claim_next(session, team, user, now=now, lease=settings.claim_lease)
    if ticket is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return tickets.to_public(session, [ticket])[0]
