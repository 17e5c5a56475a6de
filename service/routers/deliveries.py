"""The outbox in view: deliveries by status or ticket, and sending a dead one again by hand."""

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func
from sqlmodel import col, select

from models import DeliveriesPublic, Delivery, DeliveryPublic, DeliveryStatus, Role, User
from service import delivery, tickets
from service.access import ensure_can_see
from service.deps import NowDep, SessionDep, Staff, require
from service.routers import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["deliveries"])
Supervisor = Annotated[User, require(Role.manager, Role.admin)]


def _page(session, conditions: list, limit: int, offset: int) -> DeliveriesPublic:
    total = session.exec(select(func.count()).select_from(Delivery).where(*conditions)).one()
    rows = session.exec(
        select(Delivery).where(*conditions).order_by(col(Delivery.id).desc()).limit(limit).offset(offset)
    ).all()
    return DeliveriesPublic(data=[DeliveryPublic.model_validate(d, from_attributes=True) for d in rows], count=total)


@router.get("/deliveries", response_model=DeliveriesPublic)
def list_deliveries(
    session: SessionDep,
    _user: Supervisor,
    status: DeliveryStatus | None = None,
    ticket_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DeliveriesPublic:
    """Deliveries to other systems and platforms, newest first; `status=dead` is the dead-letter list."""
    conditions = []
    if status is not None:
        conditions.append(Delivery.status == status)
    if ticket_id is not None:
        conditions.append(Delivery.ticket_id == ticket_id)
    return _page(session, conditions, limit, offset)


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryPublic, responses={409: {"description": "Busy"}})
def retry_delivery(delivery_id: int, session: SessionDep, now: NowDep, user: Supervisor) -> DeliveryPublic:
    """A dead or waiting delivery is due again now, with a fresh set of attempts (409 if sent or being sent)."""
    retried = delivery.retry(session, delivery_id, user, now=now)
    return DeliveryPublic.model_validate(retried, from_attributes=True)


@router.get("/tickets/{ticket_id}/deliveries", response_model=DeliveriesPublic)
def list_ticket_deliveries(
    ticket_id: int,
    session: SessionDep,
    user: Staff,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> DeliveriesPublic:
    """What was sent about this ticket (reports, replies, acknowledgements) and how far each got."""
    ticket = tickets.get_ticket(session, ticket_id)
    ensure_can_see(session, user, ticket)
    return _page(session, [Delivery.ticket_id == ticket.id], limit, offset)
