"""Enumerations and small helpers shared by every table and schema."""

from datetime import UTC, datetime
from enum import StrEnum

from sqlmodel import Enum


def utcnow() -> datetime:
    return datetime.now(UTC)


class Channel(StrEnum):
    x = "x"
    facebook = "facebook"
    instagram = "instagram"
    whatsapp = "whatsapp"
    web = "web"
    email = "email"


class Category(StrEnum):
    service_question = "service_question"
    public_space_report = "public_space_report"
    communication = "communication"


class Priority(StrEnum):
    normal = "normal"
    high = "high"
    urgent = "urgent"

    @property
    def rank(self) -> int:
        return PRIORITY_RANK[self]


PRIORITY_RANK = {Priority.normal: 0, Priority.high: 1, Priority.urgent: 2}


class TicketStatus(StrEnum):
    new = "new"
    open = "open"
    waiting = "waiting"
    resolved = "resolved"
    closed = "closed"
    reopened = "reopened"


OPEN_STATUSES = (TicketStatus.new, TicketStatus.open, TicketStatus.waiting, TicketStatus.reopened)


class Outcome(StrEnum):
    answered = "answered"
    forwarded = "forwarded"
    no_action_needed = "no_action_needed"
    duplicate = "duplicate"
    spam = "spam"


class SlaState(StrEnum):
    running = "running"
    paused = "paused"
    at_risk = "at_risk"
    met = "met"
    breached = "breached"


class TargetKind(StrEnum):
    first_response = "first_response"
    next_response = "next_response"
    resolution = "resolution"


class DeliveryStatus(StrEnum):
    pending = "pending"
    sending = "sending"
    delivered = "delivered"
    dead = "dead"


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class Role(StrEnum):
    agent = "agent"
    manager = "manager"
    admin = "admin"
    integration = "integration"


class Clock(StrEnum):
    business = "business"
    calendar = "calendar"


class OfficeHours(StrEnum):
    any = "any"
    inside = "inside"
    outside = "outside"


def enum_type(enum: type[StrEnum]) -> Enum:
    """Store an enum as its plain string value, so adding a value later is not a database type change."""
    return Enum(enum, native_enum=False, create_constraint=False, length=40, values_callable=_values)


def _values(enum: type[StrEnum]) -> list[str]:
    return [member.value for member in enum]
