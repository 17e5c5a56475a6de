"""FastAPI dependencies: settings, database session, classifier, current user and role checks."""

import hmac
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from classifier import Classifier
from models import Role, User, utcnow
from service import auth
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
        if engine.dialect.name == "sqlite" and request.method not in ("GET", "HEAD"):
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


def get_current_user(
    request: Request,
    session: SessionDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    """The caller: an API token (integrations, scripts) or the web interface's session cookie."""
    if credentials is not None and credentials.scheme.lower() == "bearer":
        user = auth.user_for_token(session, credentials.credentials, now=now)
        if user is None:
            raise Unauthorized("Invalid, expired or revoked token")
        return user
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    if cookie:
        logged_in = auth.user_for_session(session, cookie, now=now)
        if logged_in is None:
            raise Unauthorized("Your session has ended; log in again")
        # The page sends its CSRF token in a header; a forged cross-site request cannot read it.
        if request.method not in SAFE_METHODS and not hmac.compare_digest(
            request.headers.get("x-csrf-token", ""), logged_in.session.csrf_token
        ):
            raise Forbidden("Missing or wrong CSRF token")
        request.state.web_session = logged_in.session
        return logged_in.user
    raise Unauthorized()


CurrentUserDep = Annotated[User, Depends(get_current_user)]


def require(*roles: Role):
    """A dependency that lets only the given roles through (403 for the others)."""

    def check(user: CurrentUserDep) -> User:
        if user.role not in roles:
            raise Forbidden(f"This needs one of the roles: {', '.join(roles)}")
        return user

    return Depends(check)


Ingestor = Annotated[User, require(Role.integration, Role.admin)]
# People who read and work tickets: agents (their own departments), managers and admins (all).
Staff = Annotated[User, require(Role.agent, Role.manager, Role.admin)]
Admin = Annotated[User, require(Role.admin)]
