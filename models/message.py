"""Messages: what citizens send and what agents answer, one schema for every channel."""

from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, field_validator
from sqlmodel import Field, Index, SQLModel, UniqueConstraint

from models.common import Channel, Direction, enum_type, utcnow

MAX_TEXT_LENGTH = 10_000
MAX_BATCH_SIZE = 500


class MessageBase(SQLModel):
    channel: Channel = Field(sa_type=enum_type(Channel))
    external_id: str = Field(min_length=1, max_length=200, description="The platform's id of the message.")
    author_handle: str = Field(min_length=1, max_length=200)
    author_name: str | None = Field(default=None, max_length=200)
    text: str = Field(min_length=1, max_length=MAX_TEXT_LENGTH)
    sent_at: datetime
    conversation_id: str | None = Field(default=None, max_length=200)
    in_reply_to: str | None = Field(default=None, max_length=200, description="external_id of the message answered.")
    permalink: str | None = Field(default=None, max_length=2000)


class Message(MessageBase, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_messages_channel_external_id"),
        Index("ix_messages_channel_conversation", "channel", "conversation_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="tickets.id", index=True, ondelete="CASCADE")
    direction: Direction = Field(default=Direction.inbound, sa_type=enum_type(Direction))
    author_user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    received_at: datetime = Field(default_factory=utcnow)
    # The unmasked text, encrypted, only where WEBCARE_KEEP_ORIGINAL_TEXT allows it.
    original_text_encrypted: str | None = None


class MessageCreate(MessageBase):
    sent_at: AwareDatetime = Field(description="When the citizen sent it, ISO 8601 with offset.")

    @field_validator("sent_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("text is empty")
        if "\x00" in value:
            raise ValueError("text contains a NUL character")
        return value


class MessagePublic(MessageBase):
    id: int
    direction: Direction
    received_at: datetime
    automatic: bool = Field(default=False, description="Sent by the system (an acknowledgement), not by a person")


class MessageBatch(SQLModel):
    # Items are validated one by one, so one bad message gets its own error instead of failing the batch.
    messages: list[dict[str, Any]] = Field(min_length=1, max_length=MAX_BATCH_SIZE)
