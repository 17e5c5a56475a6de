"""Reply templates: admins manage them, agents use them (filled in for a ticket)."""

from fastapi import APIRouter, Response, status
from sqlmodel import col, select

from models import (
    ReplyTemplate,
    ReplyTemplateCreate,
    ReplyTemplatePublic,
    ReplyTemplatesPublic,
    ReplyTemplateUpdate,
    utcnow,
)
from service import reply_templates, tickets
from service.access import ensure_can_see
from service.deps import Admin, SessionDep, Staff
from service.errors import NotFound
from service.routers import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["templates"])


def _get(session, template_id: int) -> ReplyTemplate:
    template = session.get(ReplyTemplate, template_id)
    if template is None:
        raise NotFound(f"template {template_id} does not exist")
    return template


@router.get("/templates", response_model=ReplyTemplatesPublic)
def list_templates(session: SessionDep, _user: Staff) -> ReplyTemplatesPublic:
    rows = session.exec(
        select(ReplyTemplate).order_by(col(ReplyTemplate.language).desc(), col(ReplyTemplate.name))
    ).all()
    return ReplyTemplatesPublic(
        data=[ReplyTemplatePublic.model_validate(t, from_attributes=True) for t in rows], count=len(rows)
    )


@router.post("/templates", response_model=ReplyTemplatePublic, status_code=status.HTTP_201_CREATED)
def create_template(body: ReplyTemplateCreate, session: SessionDep, _user: Admin) -> ReplyTemplatePublic:
    template = ReplyTemplate(**body.model_dump())
    session.add(template)
    session.flush()
    return ReplyTemplatePublic.model_validate(template, from_attributes=True)


@router.patch("/templates/{template_id}", response_model=ReplyTemplatePublic)
def update_template(
    template_id: int, body: ReplyTemplateUpdate, session: SessionDep, _user: Admin
) -> ReplyTemplatePublic:
    template = _get(session, template_id)
    for key, value in body.model_dump(exclude_unset=True).items():
        setattr(template, key, value)
    template.updated_at = utcnow()
    session.add(template)
    session.flush()
    return ReplyTemplatePublic.model_validate(template, from_attributes=True)


@router.delete("/templates/{template_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_template(template_id: int, session: SessionDep, _user: Admin) -> Response:
    session.delete(_get(session, template_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/tickets/{ticket_id}/templates", response_model=ReplyTemplatesPublic)
def templates_for_ticket(ticket_id: int, session: SessionDep, user: Staff) -> ReplyTemplatesPublic:
    """The templates that fit this ticket's category, with the citizen's name and our promise filled in."""
    ticket = tickets.get_ticket(session, ticket_id)
    ensure_can_see(session, user, ticket)
    department = tickets.department_of(session, ticket)
    rows = session.exec(
        select(ReplyTemplate)
        .where((col(ReplyTemplate.category).is_(None)) | (ReplyTemplate.category == ticket.category))
        .order_by(col(ReplyTemplate.language).desc(), col(ReplyTemplate.name))
    ).all()
    due = ticket.resolution_due if ticket.first_responded_at is None else None
    filled = [
        ReplyTemplatePublic(
            id=t.id,
            name=t.name,
            language=t.language,
            category=t.category,
            body=reply_templates.render(
                t.body,
                name=ticket.author_name or ticket.author_handle,
                due=due,
                ticket_id=ticket.id,
                timezone=department.timezone,
                language=t.language,
            ),
        )
        for t in rows
    ]
    return ReplyTemplatesPublic(data=filled, count=len(filled))
