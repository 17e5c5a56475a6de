"""The audit trail for admins: search it, or download it as CSV (itself audited)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from models import AuditEventsPublic
from service import audit
from service.deps import Admin, NowDep, SessionDep
from service.routers import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["audit"])


def audit_filter(
    user: Annotated[str | None, Query(description="Username as recorded")] = None,
    object_type: str | None = None,
    object_id: str | None = None,
    start: Annotated[AwareDatetime | None, Query(alias="from", description="Inclusive")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to", description="Exclusive")] = None,
) -> audit.AuditFilter:
    return audit.AuditFilter(username=user, object_type=object_type, object_id=object_id, start=start, end=end)


Filter = Annotated[audit.AuditFilter, Depends(audit_filter)]


@router.get("/audit", response_model=AuditEventsPublic)
def list_audit_events(
    session: SessionDep,
    where: Filter,
    _user: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AuditEventsPublic:
    """Who read or changed what, when and from where; newest first. The trail cannot be changed through the API."""
    rows, total = audit.search(session, where, limit=limit, offset=offset)
    return AuditEventsPublic(data=rows, count=total)


@router.get("/audit.csv", response_class=StreamingResponse)
def export_audit_events(
    request: Request, session: SessionDep, where: Filter, now: NowDep, user: Admin
) -> StreamingResponse:
    """The matching events as CSV (UTF-8 with BOM, ';'-separated); the download is itself recorded."""
    audit.record(
        session,
        user=user,
        action="export",
        object_type="audit",
        ip=audit.client_ip(request),
        detail={"query": dict(request.query_params)},
        at=now,
    )
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        audit.csv_rows(request.app.state.engine, where),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
    )
