"""Departments with their office hours."""

from fastapi import APIRouter
from sqlmodel import col, select

from models import Department, DepartmentsPublic
from service.configuration import department_public
from service.deps import SessionDep, Staff
from service.routers import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/departments", tags=["configuration"])


@router.get("", response_model=DepartmentsPublic)
def list_departments(session: SessionDep, _user: Staff) -> DepartmentsPublic:
    rows = session.exec(select(Department).order_by(col(Department.slug))).all()
    return DepartmentsPublic(data=[department_public(d) for d in rows], count=len(rows))
