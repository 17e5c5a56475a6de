"""Departments: the teams that own tickets, with their office hours."""

import re
from datetime import date, datetime

from pydantic import field_validator
from sqlmodel import JSON, Field, SQLModel

from models.common import utcnow

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SLOT_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$"

OpeningHours = dict[str, list[tuple[str, str]]]


class DepartmentBase(SQLModel):
    slug: str = Field(max_length=40, regex=r"^[a-z0-9][a-z0-9-]*$", unique=True, index=True)
    name: str = Field(min_length=1, max_length=120)
    timezone: str = Field(default="Europe/Amsterdam", max_length=64)


class Department(DepartmentBase, table=True):
    __tablename__ = "departments"

    id: int | None = Field(default=None, primary_key=True)
    # Weekday name -> list of ["HH:MM", "HH:MM"] slots, local to `timezone`.
    opening_hours: dict = Field(default_factory=dict, sa_type=JSON)
    # ISO dates (local) on which the department is closed all day.
    closure_days: list = Field(default_factory=list, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class DepartmentWrite(DepartmentBase):
    opening_hours: OpeningHours
    closure_days: list[date] = []

    @field_validator("opening_hours")
    @classmethod
    def _known_days_and_times(cls, value: OpeningHours) -> OpeningHours:
        unknown = set(value) - set(WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekday(s): {', '.join(sorted(unknown))}")
        for day, slots in value.items():
            for opens, closes in slots:
                for moment in (opens, closes):
                    if not re.match(SLOT_PATTERN, moment):
                        raise ValueError(f"{day}: '{moment}' is not a time like 08:30")
        return {day: value.get(day, []) for day in WEEKDAYS}


class DepartmentPublic(DepartmentBase):
    opening_hours: OpeningHours
    closure_days: list[date]


class DepartmentsPublic(SQLModel):
    data: list[DepartmentPublic]
    count: int
