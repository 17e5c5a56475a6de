"""Tickets, their append-only timeline, and the API's ticket schemas."""

from datetime import datetime
from typing import Any

from sqlmodel import JSON, Field, Index, SQLModel, text

from models.common import Category, Channel, Outcome, Priority, SlaState, TicketStatus, enum_type, utcnow
from models.message import MAX_TEXT_LENGTH, MessagePublic

# The statuses in which a ticket may wait in a queue (new, reopened, or open with a lapsed claim), as literal SQL: the
# partial index below and the claim query must say exactly the same for the planner to use the index.
MAY_BE_WAITING = "status IN ('new', 'reopened', 'open')"


class Ticket(SQLModel, table=True):
    __tablename__ = "tickets"
    __table_args__ = (
        # The queue: a department's open tickets, nearest deadline first.
        Index("ix_tickets_queue", "department_id", "status", "next_due"),
        Index("ix_tickets_status_next_due", "status", "next_due"),
        # Claiming: only the tickets that may be waiting, in deadline order per department, so that a claim reads
        # the first few entries however long the queue is (service/workflow.py names the same statuses).
        Index(
            "ix_tickets_waiting",
            "department_id",
            "next_due",
            postgresql_where=text(MAY_BE_WAITING),
            sqlite_where=text(MAY_BE_WAITING),
        ),
        # Threading: a new message finds its conversation's ticket.
        Index("ix_tickets_conversation", "channel", "conversation_id"),
        # Reports filter on when citizens wrote.
        Index("ix_tickets_sent_at", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    status: TicketStatus = Field(default=TicketStatus.new, sa_type=enum_type(TicketStatus))
    channel: Channel = Field(sa_type=enum_type(Channel))
    conversation_id: str | None = Field(default=None, max_length=200)
    author_handle: str = Field(max_length=200, index=True)
    author_name: str | None = Field(default=None, max_length=200)

    category: Category = Field(sa_type=enum_type(Category))
    subcategory: str | None = Field(default=None, max_length=40)
    confidence: float
    model_version: str = Field(max_length=80)
    urgent: bool = False
    reasons: list = Field(default_factory=list, sa_type=JSON)

    department_id: int = Field(foreign_key="departments.id", ondelete="RESTRICT")
    priority: Priority = Field(default=Priority.normal, sa_type=enum_type(Priority))
    assignee_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    routing_rule_id: int | None = Field(default=None, foreign_key="routing_rules.id", ondelete="SET NULL")
    sla_policy_id: int | None = Field(default=None, foreign_key="sla_policies.id", ondelete="SET NULL")
    version: int = 1

    # When the citizen sent the first message (never changes), and the (re)opening one (clocks start there).
    sent_at: datetime
    opened_at: datetime
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    # The deadline that matters now: first response until answered, then resolution; empty once resolved.
    next_due: datetime | None = None
    next_response_due: datetime | None = None
    first_responded_at: datetime | None = None
    resolved_at: datetime | None = None
    reopen_count: int = 0
    sla_state: SlaState = Field(default=SlaState.running, sa_type=enum_type(SlaState))
    # A claim is a lease: after this moment another agent may take the ticket.
    claimed_until: datetime | None = None
    outcome: Outcome | None = Field(default=None, sa_type=enum_type(Outcome))
    # The first ticket about the same fault in the world (same kind, place and time): fix once, answer all.
    duplicate_of_id: int | None = Field(default=None, foreign_key="tickets.id", ondelete="SET NULL")
    # Personal data removed by the retention job (or on a citizen's request).
    anonymized_at: datetime | None = None

    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TicketViewer(SQLModel, table=True):
    """Who has a ticket open on screen right now (refreshed by the page's heartbeat)."""

    __tablename__ = "ticket_viewers"

    ticket_id: int = Field(foreign_key="tickets.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    seen_at: datetime = Field(default_factory=utcnow)


class TicketEvent(SQLModel, table=True):
    """One line of a ticket's timeline: who did what, when. Never updated or deleted."""

    __tablename__ = "ticket_events"

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True, ondelete="CASCADE")
    at: datetime = Field(default_factory=utcnow)
    actor_user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    actor: str = Field(max_length=80, description="Username, or 'system' for the pipeline itself.")
    kind: str = Field(max_length=40)
    data: dict = Field(default_factory=dict, sa_type=JSON)


class TicketEventPublic(SQLModel):
    at: datetime
    actor: str
    kind: str
    data: dict[str, Any]


class TicketPublic(SQLModel):
    id: int
    status: TicketStatus
    channel: Channel
    author_handle: str
    author_name: str | None
    category: Category = Field(sa_type=enum_type(Category))
    subcategory: str | None
    confidence: float
    model_version: str
    reasons: list[str]
    department: str
    priority: Priority
    assignee: str | None
    version: int
    sent_at: datetime
    opened_at: datetime
    first_response_due: datetime | None
    next_response_due: datetime | None
    resolution_due: datetime | None
    next_due: datetime | None = Field(default=None, description="The deadline that matters now")
    first_responded_at: datetime | None
    resolved_at: datetime | None
    sla_state: SlaState
    claimed_until: datetime | None
    outcome: Outcome | None
    duplicate_of_id: int | None = None
    preview: str | None = Field(default=None, description="The start of the citizen's first message")
    created_at: datetime
    updated_at: datetime


class TicketDetail(TicketPublic):
    messages: list[MessagePublic]
    timeline: list[TicketEventPublic]
    viewers: list[str] = Field(default_factory=list, description="Other people who have this ticket open now.")
    reply_window_closes_at: datetime | None = Field(
        default=None,
        description="WhatsApp only: after this (24 h after the citizen's last message) a free-form reply is refused.",
    )


class TicketUpdate(SQLModel):
    """A change to a ticket; `version` must be the one the client last saw."""

    version: int
    status: TicketStatus | None = None
    category: Category | None = None
    department: str | None = Field(default=None, description="Slug of the department to move the ticket to.")
    priority: Priority | None = None
    outcome: Outcome | None = Field(default=None, description="Required when resolving.")


class ReplyCreate(SQLModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT_LENGTH)
    version: int
    template_id: int | None = None


class NoteCreate(SQLModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT_LENGTH)


class VersionRef(SQLModel):
    version: int | None = Field(default=None, description="When given, the change is refused if it is stale.")


class TicketsPublic(SQLModel):
    data: list[TicketPublic]
    count: int


class IngestResult(SQLModel):
    created: bool
    message_id: int
    ticket: TicketPublic


class BatchItemError(SQLModel):
    error: Any


class BatchResult(SQLModel):
    results: list[IngestResult | BatchItemError]
