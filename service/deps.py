"""FastAPI dependencies: settings, database session, classifier, current user and role checks."""

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import BackgroundTasks, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from classifier import Classifier
from models import Role, User, utcnow
from service import auth
from service.auth import Scope
from service.db import SQLITE_IMMEDIATE
from service.errors import Forbidden, Unauthorized
from service.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="An API token made with `webcare create-token NAME`.")


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler succeeds, rolled back when it fails."""
    engine = request.app.state.engine
    with Session(engine, expire_on_commit=False) as session:
        # Reads write too (the audit trail, a token's last use): on SQLite every request takes the write lock up
        # front, or a read that turns into a write fails with "database is locked" when another request wrote.
        if engine.dialect.name == "sqlite":
            session.connection(execution_options={SQLITE_IMMEDIATE: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def get_classifier(request: Request) -> Classifier:
    return request.app.state.classifier


def get_now() -> datetime:
    return utcnow()


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# scope="function": the commit happens before the response is sent, so a client never sees an answer
# for something that was not stored.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ClassifierDep = Annotated[Classifier, Depends(get_classifier)]
NowDep = Annotated[datetime, Depends(get_now)]


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _first_touch_this_minute(request: Request, token_id: int, now: datetime) -> bool:
    """Many calls in the same minute all see a stale last_used_at: only the first of this process writes it."""
    touched = getattr(request.app.state, "token_touches", None)
    if touched is None:
        touched = request.app.state.token_touches = {}
    last = touched.get(token_id)
    if last is not None and now - last < auth.LAST_USED_PRECISION:
        return False
    if len(touched) > 10_000:  # bounded: forgetting only costs one more conditional UPDATE
        touched.clear()
    touched[token_id] = now
    return True


def get_current_user(
    request: Request,
    session: SessionDep,
    now: NowDep,
    background: BackgroundTasks,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The caller: an API token (integrations, scripts) or the web interface's session cookie."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        holder = auth.holder_of_token(session, credentials.credentials, now=now)
        if holder is None:
            raise Unauthorized("Invalid, expired or revoked token")
        request.state.token_holder = holder
        if holder.needs_touch(now) and _first_touch_this_minute(request, holder.token.id, now):
            # After the answer, in its own transaction: a read stays a read, and SQLite's single writer is not
            # asked for twice by the same request.
            background.add_task(auth.touch_token, request.app.state.engine, holder.token.id, now=now)
        return holder.user
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    if cookie:
        logged_in = auth.user_for_session(session, cookie, now=now)
        if logged_in is None:
            raise Unauthorized("Your session has ended; log in again")
        # The page sends its CSRF token in a header; a forged cross-site request cannot read it.
        if request.method not in SAFE_METHODS and not auth.same_secret(
            request.headers.get("x-csrf-token", ""), logged_in.session.csrf_token
        ):
            raise Forbidden("Missing or wrong CSRF token")
        request.state.web_session = logged_in.session
        return logged_in.user
    raise Unauthorized()


CurrentUserDep = Annotated[User, Depends(get_current_user)]


def require(*roles: Role, scope: Scope | None = None):
    """A dependency that lets only the given roles through (403 for the others).

    A token with scopes must also carry `scope`; without one named here, reading needs "read" and changing
    needs "work". A token without scopes, and a web session, have their role's full rights.
    """

    def check(request: Request, user: CurrentUserDep) -> User:
        if user.role not in roles:
            raise Forbidden(f"This needs one of the roles: {', '.join(roles)}")
        holder: auth.TokenHolder | None = getattr(request.state, "token_holder", None)
        needed = scope or (Scope.read if request.method in SAFE_METHODS else Scope.work)
        if holder is not None and not holder.allows(needed):
            raise Forbidden(f"This token's scopes do not include '{needed}'")
        return user

    return Depends(check)


Ingestor = Annotated[User, require(Role.integration, Role.admin, scope=Scope.ingest)]
# People who read and work tickets: agents (their own departments), managers and admins (all).
Staff = Annotated[User, require(Role.agent, Role.manager, Role.admin)]
Reporter = Annotated[User, require(Role.manager, Role.admin, scope=Scope.reports)]
Admin = Annotated[User, require(Role.admin, scope=Scope.admin)]
