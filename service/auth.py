"""Users, API tokens (stored hashed) and passwords (Argon2)."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlmodel import Session, select

from models import ApiToken, Department, Role, User, UserDepartment, UserSession, utcnow
from service.errors import Conflict, NotFound

TOKEN_PREFIX = "wcr_"
_password_hasher = PasswordHasher()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _password_hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _password_hasher.verify(password_hash, password)
    except VerificationError:
        return False


def create_user(
    session: Session,
    username: str,
    *,
    role: Role,
    departments: list[str] = (),
    password: str | None = None,
    full_name: str | None = None,
) -> User:
    if session.exec(select(User).where(User.username == username)).first():
        raise Conflict(f"user '{username}' already exists")
    found = session.exec(select(Department).where(Department.slug.in_(departments))).all() if departments else []
    missing = set(departments) - {d.slug for d in found}
    if missing:
        raise NotFound(f"unknown department(s): {', '.join(sorted(missing))}")
    user = User(
        username=username,
        role=role,
        full_name=full_name,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    session.flush()
    for department in found:
        session.add(UserDepartment(user_id=user.id, department_id=department.id))
    session.flush()
    return user


def create_token(session: Session, username: str, *, valid_days: int | None = None) -> str:
    """A new random token for the user; only its hash is stored, so the plain token is shown once."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"no user '{username}'")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(days=valid_days) if valid_days else None
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:12], expires_at=expires_at))
    session.flush()
    return token


def user_for_token(session: Session, token: str, *, now: datetime) -> User | None:
    row = session.exec(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id).where(ApiToken.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    api_token, user = row
    if api_token.revoked_at is not None or not user.is_active:
        return None
    if api_token.expires_at is not None and api_token.expires_at <= now:
        return None
    return user


def department_ids(session: Session, user: User) -> set[int]:
    return set(session.exec(select(UserDepartment.department_id).where(UserDepartment.user_id == user.id)).all())


SESSION_COOKIE = "webcare_session"
SESSION_HOURS = 12


@dataclass(frozen=True)
class LoggedIn:
    user: User
    session: UserSession


def log_in(session: Session, username: str, password: str, *, now: datetime) -> tuple[str, UserSession] | None:
    """Check the password; on success a new web session, whose plain token goes into the cookie only."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        return None
    token = secrets.token_urlsafe(32)
    web_session = UserSession(
        token_hash=hash_token(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=SESSION_HOURS),
    )
    session.add(web_session)
    session.flush()
    return token, web_session


def user_for_session(session: Session, token: str, *, now: datetime) -> LoggedIn | None:
    row = session.exec(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    web_session, user = row
    if web_session.expires_at <= now or not user.is_active:
        return None
    return LoggedIn(user, web_session)


def log_out(session: Session, token: str) -> None:
    web_session = session.exec(select(UserSession).where(UserSession.token_hash == hash_token(token))).first()
    if web_session is not None:
        session.delete(web_session)
