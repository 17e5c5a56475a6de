"""The audit trail: who read or changed what, when and from where; append-only."""

import csv
import io
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Depends, Request
from sqlalchemy import Engine, event, func, inspect
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from models import AuditEvent, AuditEventPublic, User, utcnow
from service.deps import CurrentUserDep, NowDep, SessionDep

SYSTEM = "system"  # the worker's jobs
CLI = "cli"  # the command line: whoever has a shell on the server
# The ticket page polls every 15 seconds: one read per person and ticket in this window says enough.
READ_WINDOW = timedelta(minutes=10)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_WATCH = "webcare_audit_watch"


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or delete an audit event."""


def record(
    session: Session,
    *,
    user: User | str | None,
    action: str,
    object_type: str,
    object_id: Any = None,
    ip: str | None = None,
    detail: dict | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event; `user` is a User, or a name such as "cli", "system" or the name typed at a failed log-in."""
    if isinstance(user, User):
        user_id, username = user.id, user.username
    else:
        user_id, username = None, (user or SYSTEM)
    audit_event = AuditEvent(
        at=at or utcnow(),
        user_id=user_id,
        username=username[:80],
        action=action,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id)[:80],
        ip=ip[:64] if ip else None,
        detail=detail or {},
    )
    session.add(audit_event)
    return audit_event


def record_read(
    session: Session, *, user: User, object_type: str, object_id: Any, ip: str | None, at: datetime
) -> AuditEvent | None:
    """A read, unless this person read the same object within READ_WINDOW (a page that polls)."""
    recent = session.exec(
        select(AuditEvent.id)
        .where(
            AuditEvent.object_type == object_type,
            AuditEvent.object_id == str(object_id),
            AuditEvent.user_id == user.id,
            AuditEvent.action == "read",
            AuditEvent.at > at - READ_WINDOW,
        )
        .limit(1)
    ).first()
    if recent is not None:
        return None
    return record(session, user=user, action="read", object_type=object_type, object_id=object_id, ip=ip, at=at)


# Where a request came from ------------------------------------------------------------------------


def is_trusted(address: str, proxies: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for proxy in proxies:
        try:
            if ip in ipaddress.ip_network(proxy, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_ip(request: Request) -> str | None:
    """The peer's address; X-Forwarded-For only when the peer is a proxy listed in WEBCARE_TRUSTED_PROXIES."""
    peer = request.client.host if request.client else None
    proxies = request.app.state.settings.trusted_proxies
    if peer is None or not proxies or not is_trusted(peer, proxies):
        return peer
    # Each proxy appends the address it saw: the first one from the right that is not ours is the client.
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, proxies):
            return hop
    return hops[0] if hops else peer


# Append-only ---------------------------------------------------------------------------------------
# The database refuses too, for any client (triggers, migration 0006); this guard fails earlier, in Python,
# with AppendOnlyError.


def _refuse_change(_mapper, _connection, _target) -> None:
    raise AppendOnlyError("audit events are never changed or deleted")


def _refuse_bulk_change(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and state.bind_mapper is not None:
        if state.bind_mapper.class_ is AuditEvent:
            raise AppendOnlyError("audit events are never changed or deleted")


def install() -> None:
    """Register the append-only guard and the change tracker (create_app calls this; repeating is harmless)."""
    for name in ("before_update", "before_delete"):
        if not event.contains(AuditEvent, name, _refuse_change):
            event.listen(AuditEvent, name, _refuse_change)
    for name, listener in (("do_orm_execute", _refuse_bulk_change), ("after_flush", _note_changes)):
        if not event.contains(OrmSession, name, listener):
            event.listen(OrmSession, name, listener)


# Changes made through a router that does not call record() itself -----------------------------------


@dataclass
class _Watch:
    models: dict[type, str]  # table model -> object_type
    changes: dict[tuple[type, Any], tuple[str, set[str]]]  # (model, id) -> (action, changed fields)


def _note_changes(session: OrmSession, _flush_context) -> None:
    watch: _Watch | None = session.info.get(_WATCH)
    if watch is None:
        return
    for action, objects in (("create", session.new), ("update", session.dirty), ("delete", session.deleted)):
        for obj in objects:
            if type(obj) not in watch.models:
                continue
            state = inspect(obj)
            fields = {a.key for a in state.attrs if a.history.has_changes()} if action == "update" else set()
            if action == "update" and not fields:
                continue
            # The identity key is only set after this hook; the primary key is already there.
            key = (type(obj), state.mapper.primary_key_from_instance(obj)[0])
            earlier = watch.changes.get(key)
            # Created and then changed in one request is still a creation.
            watch.changes[key] = (earlier[0] if earlier and action != "delete" else action, fields)


def changes_of(models: dict[type, str], *, action: str | None = None):
    """A route dependency that audits every change to these models made by the request (not reads).

    For routers whose handlers do not record themselves: the change is taken from what the session flushed.
    """

    def dependency(request: Request, session: SessionDep, user: CurrentUserDep, now: NowDep) -> Iterator[None]:
        if request.method in SAFE_METHODS:
            yield
            return
        watch = _Watch(models=models, changes={})
        session.info[_WATCH] = watch
        yield  # the handler runs; if it fails, nothing is recorded and the transaction rolls back
        session.flush()  # a delete is only flushed at commit otherwise
        session.info.pop(_WATCH, None)
        for (model, object_id), (change, fields) in watch.changes.items():
            record(
                session,
                user=user,
                action=action or change,
                object_type=models[model],
                object_id=object_id,
                ip=client_ip(request),
                detail={"fields": sorted(fields)} if fields else {},
                at=now,
            )

    return Depends(dependency, scope="function")


def exports_of(object_type: str):
    """A route dependency that audits a download (a route whose path ends in .csv) with its query."""

    def dependency(request: Request, session: SessionDep, user: CurrentUserDep, now: NowDep) -> Iterator[None]:
        yield
        route = request.scope.get("route")
        if getattr(route, "path", "").endswith(".csv"):
            record(
                session,
                user=user,
                action="export",
                object_type=object_type,
                ip=client_ip(request),
                detail={"path": route.path, "query": dict(request.query_params)},
                at=now,
            )

    return Depends(dependency, scope="function")


# Reading the trail ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    username: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def conditions(self) -> list:
        conditions = []
        if self.username is not None:
            conditions.append(AuditEvent.username == self.username)
        if self.object_type is not None:
            conditions.append(AuditEvent.object_type == self.object_type)
        if self.object_id is not None:
            conditions.append(AuditEvent.object_id == self.object_id)
        if self.start is not None:
            conditions.append(AuditEvent.at >= self.start)
        if self.end is not None:
            conditions.append(AuditEvent.at < self.end)
        return conditions


def search(session: Session, where: AuditFilter, *, limit: int, offset: int) -> tuple[list[AuditEventPublic], int]:
    """Matching events, newest first, and how many match in all."""
    conditions = where.conditions()
    total = session.exec(select(func.count()).select_from(AuditEvent).where(*conditions)).one()
    rows = session.exec(
        select(AuditEvent)
        .where(*conditions)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [AuditEventPublic.model_validate(row, from_attributes=True) for row in rows], total


CSV_COLUMNS = ("at", "username", "action", "object_type", "object_id", "ip", "detail")


def _cell(value: Any) -> str:
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    # A cell that starts like a formula would run in Excel; a failed log-in's username is anyone's to choose.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_rows(engine: Engine, where: AuditFilter) -> Iterator[str]:
    """The matching events as CSV (UTF-8 with BOM, ';'-separated, newest first), streamed in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(CSV_COLUMNS)
    with Session(engine) as session:
        query = (
            select(AuditEvent)
            .where(*where.conditions())
            .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
            .execution_options(yield_per=1000)
        )
        for number, row in enumerate(session.exec(query), start=1):
            writer.writerow(
                [
                    _cell(row.at),
                    _cell(row.username),
                    _cell(row.action),
                    _cell(row.object_type),
                    _cell(row.object_id),
                    _cell(row.ip),
                    _cell(json.dumps(row.detail, ensure_ascii=False, sort_keys=True)),
                ]
            )
            if number % 1000 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
    yield buffer.getvalue()
