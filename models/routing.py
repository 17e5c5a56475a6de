"""Routing rules and response-time (SLA) policies, both applied in explicit order."""

from datetime import datetime

from sqlmodel import JSON, Field, SQLModel

from models.common import Category, Channel, Clock, OfficeHours, Priority, enum_type, utcnow


class RoutingRuleBase(SQLModel):
    position: int = Field(ge=0, description="Rules are tried from the lowest position up; the first match wins.")
    name: str = Field(min_length=1, max_length=120)
    enabled: bool = True
    # Conditions: a condition left empty matches everything.
    category: Category | None = Field(default=None, sa_type=enum_type(Category))
    channel: Channel | None = Field(default=None, sa_type=enum_type(Channel))
    min_confidence: float | None = Field(default=None, ge=0, le=1)
    max_confidence: float | None = Field(
        default=None, ge=0, le=1, description="Matches when the confidence is below this value."
    )
    text_pattern: str | None = Field(
        default=None, max_length=1000, description="Case-insensitive regular expression searched in the text."
    )
    office_hours: OfficeHours = Field(default=OfficeHours.any, sa_type=enum_type(OfficeHours))
    # Outcome.
    priority: Priority | None = Field(
        default=None,
        sa_type=enum_type(Priority),
        description="Priority of the ticket; empty keeps the classifier's urgency signal.",
    )
    deliver_to: list[str] = Field(
        default_factory=list,
        sa_type=JSON,
        description="Delivery targets (names from WEBCARE_DELIVERY_TARGETS) that receive the report.",
    )
    acknowledge: bool = Field(
        default=False, description="Send the citizen an acknowledgement saying when a person will answer."
    )


class RoutingRule(RoutingRuleBase, table=True):
    __tablename__ = "routing_rules"

    id: int | None = Field(default=None, primary_key=True)
    position: int = Field(unique=True)
    department_id: int = Field(foreign_key="departments.id", ondelete="RESTRICT")
    # Whose office hours the `office_hours` condition looks at; empty means the outcome department's.
    hours_department_id: int | None = Field(default=None, foreign_key="departments.id", ondelete="RESTRICT")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class RoutingRuleWrite(RoutingRuleBase):
    department: str = Field(description="Slug of the department that receives the ticket.")
    hours_of: str | None = Field(default=None, description="Slug of the department whose hours count.")


class RoutingRulePublic(RoutingRuleWrite):
    id: int


class RoutingRulesPublic(SQLModel):
    data: list[RoutingRulePublic]
    count: int


class SlaPolicyBase(SQLModel):
    position: int = Field(ge=0, description="Policies are tried from the lowest position up; the first match wins.")
    name: str = Field(min_length=1, max_length=120)
    category: Category | None = Field(default=None, sa_type=enum_type(Category))
    priority: Priority | None = Field(default=None, sa_type=enum_type(Priority))
    clock: Clock = Field(
        default=Clock.business,
        sa_type=enum_type(Clock),
        description="business: counted in the owning department's opening hours; calendar: 24/7.",
    )
    first_response_minutes: int = Field(gt=0)
    resolution_minutes: int = Field(gt=0)


class SlaPolicy(SlaPolicyBase, table=True):
    __tablename__ = "sla_policies"

    id: int | None = Field(default=None, primary_key=True)
    position: int = Field(unique=True)
    department_id: int | None = Field(default=None, foreign_key="departments.id", ondelete="RESTRICT")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class SlaPolicyWrite(SlaPolicyBase):
    department: str | None = None


class SlaPolicyPublic(SlaPolicyWrite):
    id: int


class SlaPoliciesPublic(SQLModel):
    data: list[SlaPolicyPublic]
    count: int
