"""People and integrations that use the API, and their tokens."""

from datetime import datetime

from sqlmodel import JSON, Field, SQLModel

from models.common import Role, enum_type, utcnow


class UserBase(SQLModel):
    username: str = Field(min_length=1, max_length=80, regex=r"^[A-Za-z0-9._@-]+$")
    full_name: str | None = Field(default=None, max_length=200)
    role: Role = Field(sa_type=enum_type(Role))


class User(UserBase, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=80)
    password_hash: str | None = None
    is_active: bool = True
    # Log-in lock-out after repeated wrong passwords.
    failed_logins: int = 0
    locked_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class UserDepartment(SQLModel, table=True):
    __tablename__ = "user_departments"

    user_id: int = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    department_id: int = Field(foreign_key="departments.id", primary_key=True, ondelete="CASCADE")


class UserPublic(UserBase):
    id: int
    is_active: bool
    departments: list[str]


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    # SHA-256 of the token: tokens are long random strings, so a fast hash is enough and lookups stay O(1).
    token_hash: str = Field(unique=True, max_length=64)
    prefix: str = Field(max_length=12, description="First characters, to recognise a token in lists and logs.")
    scopes: list = Field(default_factory=list, sa_type=JSON, description="Empty: everything the user's role allows")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class UserSession(SQLModel, table=True):
    """A person's log-in in the web interface; the cookie holds a random token, the table only its hash."""

    __tablename__ = "user_sessions"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True, max_length=64)
    user_id: int = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    last_seen_at: datetime = Field(default_factory=utcnow)
