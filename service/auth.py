"""Users, API tokens (stored hashed) and passwords (Argon2)."""

import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import Engine, or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from models import ApiToken, Department, Role, User, UserDepartment, UserSession, utcnow
from service.db import session_scope
from service.errors import Conflict, NotFound

log = logging.getLogger(__name__)
TOKEN_PREFIX = "wcr_"
_password_hasher = PasswordHasher()
# last_used_at is written at most this often per token: an integration posting all night costs no write per call.
LAST_USED_PRECISION = timedelta(minutes=1)


class Scope(StrEnum):
    """What a token may be used for, on top of its user's role; a token without scopes has the role's full rights."""

    ingest = "ingest"  # post messages
    read = "read"  # read tickets, queues, departments, templates, deliveries
    work = "work"  # change tickets: claim, reply, note, release, update
    reports = "reports"  # managers' reports and exports
    admin = "admin"  # configuration, templates, tokens


@cache
def _dummy_hash() -> str:
    return _password_hasher.hash("not a real password")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def same_secret(given: str, expected: str) -> bool:
    """Constant-time comparison that also takes non-ASCII input (hmac refuses such str, which would be a 500)."""
    return hmac.compare_digest(given.encode(), expected.encode())


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


def create_token(
    session: Session, username: str, *, valid_days: int | None = None, scopes: Iterable[Scope] = ()
) -> str:
    """A new random token for the user; only its hash is stored, so the plain token is shown once."""
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"no user '{username}'")
    token, _row = issue_token(session, user, valid_days=valid_days, scopes=scopes, now=utcnow())
    return token


def issue_token(
    session: Session, user: User, *, valid_days: int | None, scopes: Iterable[Scope], now: datetime
) -> tuple[str, ApiToken]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id,
        token_hash=hash_token(token),
        prefix=token[:12],
        # Sorted and without repeats, so equal rights look equal in lists.
        scopes=sorted({Scope(scope).value for scope in scopes}),
        created_at=now,
        expires_at=now + timedelta(days=valid_days) if valid_days else None,
    )
    session.add(row)
    session.flush()
    return token, row


@dataclass(frozen=True)
class TokenHolder:
    user: User
    token: ApiToken

    def allows(self, scope: Scope) -> bool:
        return not self.token.scopes or scope in self.token.scopes

    def needs_touch(self, now: datetime) -> bool:
        return self.token.last_used_at is None or self.token.last_used_at <= now - LAST_USED_PRECISION


def holder_of_token(session: Session, token: str, *, now: datetime) -> TokenHolder | None:
    """The token's user and row, if the token exists, is neither revoked nor expired, and its user is active."""
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
    return TokenHolder(user, api_token)


def user_for_token(session: Session, token: str, *, now: datetime) -> User | None:
    holder = holder_of_token(session, token, now=now)
    return holder.user if holder else None


def touch_token(engine: Engine, token_id: int, *, now: datetime) -> None:
    """Record when a token was last used, in a transaction of its own after the answer went out.

    The condition keeps it to one write a minute even with many processes; failing here never fails a request.
    """
    try:
        with session_scope(engine) as session:
            session.execute(
                update(ApiToken)
                .where(
                    ApiToken.id == token_id,
                    or_(
                        col(ApiToken.last_used_at).is_(None),
                        col(ApiToken.last_used_at) <= now - LAST_USED_PRECISION,
                    ),
                )
                .values(last_used_at=now)
            )
    except SQLAlchemyError as exc:
        log.warning("token %s: could not record its use: %s", token_id, type(exc).__name__)


def department_ids(session: Session, user: User) -> set[int]:
    return set(session.exec(select(UserDepartment.department_id).where(UserDepartment.user_id == user.id)).all())


SESSION_COOKIE = "webcare_session"
SESSION_HOURS = 12


@dataclass(frozen=True)
class LoggedIn:
    user: User
    session: UserSession


def log_in(
    session: Session,
    username: str,
    password: str,
    *,
    now: datetime,
    max_failures: int = 5,
    lockout: timedelta = timedelta(minutes=15),
) -> tuple[str, UserSession] | None:
    """Check the password; on success a new web session, whose plain token goes into the cookie only.

    After max_failures wrong passwords in a row the account is locked for `lockout`: even the right password
    fails then. Every failure takes the same path (one password hash check, one counting UPDATE), whether the
    user exists, is locked or just mistyped, so neither the answer nor its timing tells them apart.
    """
    user = session.exec(select(User).where(User.username == username)).first()
    locked = user is not None and user.locked_until is not None and user.locked_until > now
    # A user without a password (an integration) is checked against the dummy hash too: same time, never valid.
    stored_hash = user.password_hash if user is not None and user.password_hash else _dummy_hash()
    valid = verify_password(stored_hash, password) and user is not None and user.password_hash is not None
    if locked or not valid or not user.is_active:
        _count_failure(session, username, now=now, max_failures=max_failures, lockout=lockout)
        return None
    if user.failed_logins or user.locked_until is not None:
        user.failed_logins = 0
        user.locked_until = None
        session.add(user)
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


def _count_failure(session: Session, username: str, *, now: datetime, max_failures: int, lockout: timedelta) -> None:
    # One atomic statement, so parallel attempts cannot lose a count; it matches no row for an unknown user and
    # does not count while the account is locked (the lock is not extended by someone hammering it).
    counted = session.execute(
        update(User)
        .where(User.username == username, or_(col(User.locked_until).is_(None), col(User.locked_until) <= now))
        .values(failed_logins=User.failed_logins + 1)
        .returning(User.id, User.failed_logins)
    ).first()
    if counted is not None and counted.failed_logins >= max_failures:
        session.execute(update(User).where(User.id == counted.id).values(failed_logins=0, locked_until=now + lockout))
        log.warning("user %s locked for %s after %d wrong passwords", counted.id, lockout, max_failures)


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
