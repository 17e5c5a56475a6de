"""The outbox: deliveries to other systems and platforms, written with the ticket change that asks for them."""

from datetime import datetime

from sqlmodel import JSON, Field, Index, SQLModel

from models.common import DeliveryStatus, enum_type, utcnow


class Delivery(SQLModel, table=True):
    __tablename__ = "deliveries"
    __table_args__ = (
        # The worker's question: which deliveries are due now.
        Index("ix_deliveries_status_next_attempt", "status", "next_attempt_at"),
        # A channel's delivery receipt names the message by the id the platform gave it.
        Index("ix_deliveries_target_remote_id", "target", "remote_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="tickets.id", index=True, ondelete="SET NULL")
    message_id: int | None = Field(default=None, foreign_key="messages.id", ondelete="SET NULL")
    kind: str = Field(max_length=40, description="report, reply or acknowledgement")
    target: str = Field(max_length=80, description="A name from WEBCARE_DELIVERY_TARGETS, or a channel for replies")
    payload: dict = Field(default_factory=dict, sa_type=JSON)
    idempotency_key: str = Field(unique=True, max_length=80)
    status: DeliveryStatus = Field(default=DeliveryStatus.pending, sa_type=enum_type(DeliveryStatus))
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    # A worker holds a delivery while sending; if it dies, the lease runs out and another worker takes over.
    locked_until: datetime | None = None
    last_error: str | None = None
    remote_id: str | None = Field(default=None, max_length=200, description="The receiver's id for what we sent")
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class DeliveryPublic(SQLModel):
    id: int
    ticket_id: int | None
    kind: str
    target: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    remote_id: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveriesPublic(SQLModel):
    data: list[DeliveryPublic]
    count: int


class WebhookEvent(SQLModel, table=True):
    """A platform's webhook call, stored as received before it is processed: nothing is lost if processing fails."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_pending", "processed_at", "received_at"),)

    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=20, description="meta or x")
    body_sha256: str = Field(max_length=64, unique=True, description="Platform retries of the same call are one row")
    payload: dict = Field(default_factory=dict, sa_type=JSON)
    received_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = None
    attempts: int = 0
    last_error: str | None = None
