"""The audit trail: who read or changed which ticket or configuration, when and from where. Append-only."""

from datetime import datetime

from sqlmodel import JSON, Field, Index, SQLModel

from models.common import utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_object", "object_type", "object_id"),
        Index("ix_audit_events_at", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    username: str = Field(max_length=80, description="Kept as written, so the trail survives a deleted user")
    action: str = Field(max_length=40, description="read, create, update, delete, export, login, ...")
    object_type: str = Field(max_length=40)
    object_id: str | None = Field(default=None, max_length=80)
    ip: str | None = Field(default=None, max_length=64)
    detail: dict = Field(default_factory=dict, sa_type=JSON)


class AuditEventPublic(SQLModel):
    at: datetime
    username: str
    action: str
    object_type: str
    object_id: str | None
    ip: str | None
    detail: dict


class AuditEventsPublic(SQLModel):
    data: list[AuditEventPublic]
    count: int
