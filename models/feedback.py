"""Labelled examples from people: category corrections and triage decisions, for the next training run."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.common import Category, enum_type, utcnow


class LabelledExample(SQLModel, table=True):
    __tablename__ = "labelled_examples"

    id: int | None = Field(default=None, primary_key=True)
    text: str
    label: Category = Field(sa_type=enum_type(Category))
    predicted: Category | None = Field(default=None, sa_type=enum_type(Category))
    source: str = Field(max_length=20, description="correction (an agent changed the category) or triage")
    ticket_id: int | None = Field(default=None, foreign_key="tickets.id", ondelete="SET NULL", index=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = Field(default_factory=utcnow)
