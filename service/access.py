"""Who may see which department's tickets: agents their own departments, managers and admins all."""

from sqlmodel import Session, select

from models import Department, Role, Ticket, User
from service import auth
from service.errors import Forbidden, NotFound


def visible_department_ids(session: Session, user: User) -> set[int] | None:
    """The departments whose tickets this user may see; None means every department."""
    if user.role == Role.agent:
        return auth.department_ids(session, user)
    return None


def ensure_can_see(session: Session, user: User, ticket: Ticket) -> None:
    allowed = visible_department_ids(session, user)
    if allowed is not None and ticket.department_id not in allowed:
        raise Forbidden("This ticket belongs to a department you do not work for")


def department_by_slug(session: Session, slug: str) -> Department:
    department = session.exec(select(Department).where(Department.slug == slug)).first()
    if department is None:
        raise NotFound(f"department '{slug}' does not exist")
    return department


def ensure_works_for(session: Session, user: User, department: Department) -> None:
    allowed = visible_department_ids(session, user)
    if allowed is not None and department.id not in allowed:
        raise Forbidden(f"You do not work for department '{department.slug}'")
