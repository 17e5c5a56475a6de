"""Reply templates: canned answers in the municipality's voice, with placeholders."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from models.common import Category, enum_type, utcnow


class ReplyTemplateBase(SQLModel):
    name: str = Field(min_length=1, max_length=120)
    language: str = Field(default="nl", regex=r"^(nl|en)$")
    category: Category | None = Field(default=None, sa_type=enum_type(Category))
    body: str = Field(
        min_length=1,
        max_length=5000,
        description="Placeholders: {naam} (the citizen's name), {belofte} (when we will answer), {ticket} (number).",
    )


class ReplyTemplate(ReplyTemplateBase, table=True):
    __tablename__ = "reply_templates"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=120)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ReplyTemplateCreate(ReplyTemplateBase):
    pass


class ReplyTemplateUpdate(SQLModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    language: str | None = Field(default=None, regex=r"^(nl|en)$")
    category: Category | None = None
    body: str | None = Field(default=None, min_length=1, max_length=5000)


class ReplyTemplatePublic(ReplyTemplateBase):
    id: int


class ReplyTemplatesPublic(SQLModel):
    data: list[ReplyTemplatePublic]
    count: int
