"""Response-time targets per ticket, and the facts recorded when one is completed (for reports)."""

from datetime import datetime

from sqlmodel import Field, Index, SQLModel

from models.common import Category, Channel, Clock, Priority, SlaState, TargetKind, enum_type, utcnow


class SlaTarget(SQLModel, table=True):
    """One promise on one ticket: a first response, a next response, or the resolution."""

    __tablename__ = "sla_targets"
    __table_args__ = (
        # The sweeper's two questions: which running targets are now at risk, which are now breached.
        Index("ix_sla_targets_state_at_risk", "state", "at_risk_at"),
        Index("ix_sla_targets_state_due", "state", "due_at"),
        # Reports: the breaches of a period.
        Index("ix_sla_targets_state_started", "state", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True, ondelete="CASCADE")
    kind: TargetKind = Field(sa_type=enum_type(TargetKind))
    clock: Clock = Field(sa_type=enum_type(Clock))
    target_minutes: int
    started_at: datetime = Field(description="When the citizen sent the message that asks for an answer.")
    due_at: datetime
    at_risk_at: datetime = Field(description="When the configured share of the target time has passed.")
    state: SlaState = Field(default=SlaState.running, sa_type=enum_type(SlaState))
    paused_at: datetime | None = None
    completed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class ResponseFact(SQLModel, table=True):
    """A completed first response, next response or resolution, measured in both clocks."""

    __tablename__ = "response_facts"
    __table_args__ = (
        Index("ix_response_facts_kind_started", "kind", "started_at"),
        Index("ix_response_facts_department_started", "department_id", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True, ondelete="CASCADE")
    target_id: int | None = Field(default=None, foreign_key="sla_targets.id", ondelete="SET NULL")
    kind: TargetKind = Field(sa_type=enum_type(TargetKind))
    started_at: datetime
    completed_at: datetime
    calendar_minutes: float
    business_minutes: float = Field(description="In the owning department's opening hours, pauses left out.")
    within_target: bool
    department_id: int = Field(foreign_key="departments.id", ondelete="RESTRICT")
    category: Category = Field(sa_type=enum_type(Category))
    channel: Channel = Field(sa_type=enum_type(Channel))
    priority: Priority = Field(sa_type=enum_type(Priority))
    agent_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
