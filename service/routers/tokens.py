"""API tokens for integrations and scripts: issued (shown once), listed and revoked by admins."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import col, select

from models import ApiToken, Role, User
from service import auth
from service.auth import Scope
from service.deps import Admin, NowDep, SessionDep
from service.errors import InvalidField, NotFound
from service.routers import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/tokens", tags=["tokens"])

# A scope beyond what the role can ever do would look like a right the token does not have.
ROLE_SCOPES = {
    Role.integration: {Scope.ingest},
    Role.agent: {Scope.read, Scope.work},
    Role.manager: {Scope.read, Scope.work, Scope.reports},
    Role.admin: set(Scope),
}


class TokenCreate(BaseModel):
    username: str = Field(min_length=1, max_length=80, description="The user the token acts as")
    scopes: list[Scope] = Field(default=[], description="Empty: everything the user's role allows")
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="Empty: never expires")


class TokenPublic(BaseModel):
    id: int
    prefix: str = Field(description="The token's first characters, to recognise it")
    username: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The token itself: shown this once, stored only as a hash")


class TokensPublic(BaseModel):
    data: list[TokenPublic]
    count: int


def _public(token: ApiToken, username: str) -> TokenPublic:
    return TokenPublic(
        id=token.id,
        prefix=token.prefix,
        username=username,
        scopes=token.scopes,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


@router.post("", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenCreate, session: SessionDep, now: NowDep, _user: Admin) -> TokenCreated:
    """A new token for a user, optionally narrowed to some scopes and expiring; the answer is the only copy."""
    user = session.exec(select(User).where(User.username == body.username)).first()
    if user is None:
        raise NotFound(f"no user '{body.username}'")
    beyond = sorted(set(body.scopes) - ROLE_SCOPES[user.role])
    if beyond:
        raise InvalidField("scopes", f"a user with role {user.role} cannot use scope(s): {', '.join(beyond)}")
    plain, token = auth.issue_token(session, user, valid_days=body.expires_in_days, scopes=body.scopes, now=now)
    return TokenCreated(**_public(token, user.username).model_dump(), token=plain)


@router.get("", response_model=TokensPublic)
def list_tokens(
    session: SessionDep,
    _user: Admin,
    username: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TokensPublic:
    """Every token, newest first, with whose it is, its scopes and when it was last used; never the token itself."""
    conditions = [User.username == username] if username is not None else []
    total = session.exec(
        select(func.count()).select_from(ApiToken).join(User, User.id == ApiToken.user_id).where(*conditions)
    ).one()
    rows = session.exec(
        select(ApiToken, User.username)
        .join(User, User.id == ApiToken.user_id)
        .where(*conditions)
        .order_by(col(ApiToken.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return TokensPublic(data=[_public(token, name) for token, name in rows], count=total)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: int, session: SessionDep, now: NowDep, _user: Admin) -> Response:
    """The token stops working at once; it stays in the list, marked revoked (revoking twice changes nothing)."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"token {token_id} does not exist")
    if token.revoked_at is None:
        token.revoked_at = now
        session.add(token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
