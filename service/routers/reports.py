"""Reports for managers: summary, trends, when citizens write, and the per-ticket export."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime

from models import Category, Channel
from service import reports
from service.access import department_by_slug
from service.deps import Reporter, SessionDep
from service.routers import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/reports", tags=["reports"])


def report_filter(
    session: SessionDep,
    start: Annotated[AwareDatetime | None, Query(alias="from", description="On sent_at, inclusive")] = None,
    end: Annotated[AwareDatetime | None, Query(alias="to", description="On sent_at, exclusive")] = None,
    department: str | None = None,
    category: Category | None = None,
    channel: Channel | None = None,
) -> reports.ReportFilter:
    return reports.ReportFilter(
        start=start,
        end=end,
        department_id=department_by_slug(session, department).id if department else None,
        category=category,
        channel=channel,
    )


Filter = Annotated[reports.ReportFilter, Depends(report_filter)]


@router.get("/summary")
def read_summary(session: SessionDep, where: Filter, _user: Reporter) -> dict:
    """Volume, on-time share, median and p90 first response (business and calendar minutes), backlog, breaches."""
    return reports.summary(session, where)


@router.get("/timeseries")
def read_timeseries(
    session: SessionDep, where: Filter, _user: Reporter, interval: Literal["hour", "day", "week"] = "day"
) -> dict:
    return {"interval": interval, "data": reports.timeseries(session, where, interval=interval)}


@router.get("/heatmap")
def read_heatmap(session: SessionDep, where: Filter, _user: Reporter) -> dict:
    """Messages per weekday (rows, Monday first) and hour (columns), Amsterdam time."""
    return {"data": reports.heatmap(session, where)}


@router.get("/tickets.csv", response_class=StreamingResponse)
def export_tickets(
    request: Request,
    where: Filter,
    _user: Reporter,
    sep: Literal[";", ",", "tab"] = ";",
) -> StreamingResponse:
    """One row per ticket with every timing; UTF-8 with BOM, ';'-separated for Dutch Excel (or sep=, / tab)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        reports.tickets_csv(request.app.state.engine, where, separator="\t" if sep == "tab" else sep),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="tickets-{stamp}.csv"'},
    )
