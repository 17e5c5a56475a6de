"""Reports: response-time figures in both clocks, backlog, breaches, trends and the per-ticket export."""

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, func, literal, text, union_all
from sqlalchemy.dialects import postgresql
from sqlmodel import Session, col, select

from models import (
    OPEN_STATUSES,
    Category,
    Channel,
    Department,
    ReportMinutes,
    ReportMinutesChange,
    ReportTotals,
    ReportTotalsChange,
    ResponseFact,
    SlaState,
    SlaTarget,
    TargetKind,
    Ticket,
    TicketStatus,
    User,
)
from service import rollups
from service.rollups import REPORT_TIMEZONE


@dataclass(frozen=True)
class ReportFilter:
    start: datetime | None = None  # on when the citizen wrote (sent_at), inclusive
    end: datetime | None = None  # exclusive
    department_id: int | None = None
    category: Category | None = None
    channel: Channel | None = None


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (PostgreSQL's percentile_cont); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _ticket_conditions(where: ReportFilter, *, by_time: bool = True) -> list:
    conditions = []
    if by_time and where.start is not None:
        conditions.append(Ticket.sent_at >= where.start)
    if by_time and where.end is not None:
        conditions.append(Ticket.sent_at < where.end)
    return conditions + _dimensions(Ticket, where)


def _dimensions(table, where: ReportFilter) -> list:
    """The department, category and channel asked for, on any table that has those columns."""
    conditions = []
    if where.department_id is not None:
        conditions.append(table.department_id == where.department_id)
    if where.category is not None:
        conditions.append(table.category == where.category)
    if where.channel is not None:
        conditions.append(table.channel == where.channel)
    return conditions


def _fact_conditions(where: ReportFilter, kind: TargetKind | None) -> list:
    # Every kind named when all are asked for, so that a period is read through ix_response_facts_kind_started.
    conditions = [ResponseFact.kind == kind if kind else col(ResponseFact.kind).in_(tuple(TargetKind))]
    if where.start is not None:
        conditions.append(ResponseFact.started_at >= where.start)
    if where.end is not None:
        conditions.append(ResponseFact.started_at < where.end)
    return conditions + _dimensions(ResponseFact, where)


@dataclass(frozen=True)
class Timings:
    count: int = 0
    within_target: int = 0
    median_business: float | None = None
    p90_business: float | None = None
    median_calendar: float | None = None
    p90_calendar: float | None = None


# A summary over a long period sorts up to millions of values for its percentiles: in memory, not on disk.
SORT_MEMORY = "64MB"


def all_timings(session: Session, where: ReportFilter) -> dict[TargetKind, Timings]:
    """Count, on-time count, median and p90 of the completed targets of every kind, in both clocks, in one pass."""
    conditions = _fact_conditions(where, None)
    if session.get_bind().dialect.name == "postgresql":
        # The percentiles of a million rows never travel to Python; each clock is sorted once for both percentiles.
        session.exec(text(f"SET LOCAL work_mem = '{SORT_MEMORY}'"))
        quantiles = postgresql.array([0.5, 0.9])
        rows = session.exec(
            select(
                ResponseFact.kind,
                func.count(),
                func.count().filter(col(ResponseFact.within_target)),
                func.percentile_cont(quantiles).within_group(col(ResponseFact.business_minutes)),
                func.percentile_cont(quantiles).within_group(col(ResponseFact.calendar_minutes)),
            )
            .where(*conditions)
            .group_by(ResponseFact.kind)
        ).all()
        return {
            TargetKind(kind): Timings(count, within, business[0], business[1], calendar[0], calendar[1])
            for kind, count, within, business, calendar in rows
        }
    facts: dict[TargetKind, list[tuple[float, float, bool]]] = defaultdict(list)
    for kind, business, calendar, within in session.exec(
        select(
            ResponseFact.kind, ResponseFact.business_minutes, ResponseFact.calendar_minutes, ResponseFact.within_target
        ).where(*conditions)
    ):
        facts[TargetKind(kind)].append((business, calendar, within))
    return {
        kind: Timings(
            count=len(rows),
            within_target=sum(1 for r in rows if r[2]),
            median_business=quantile([r[0] for r in rows], 0.5),
            p90_business=quantile([r[0] for r in rows], 0.9),
            median_calendar=quantile([r[1] for r in rows], 0.5),
            p90_calendar=quantile([r[1] for r in rows], 0.9),
        )
        for kind, rows in facts.items()
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


# Above this many completed targets of one kind in a period, medians and p90s come from the monthly histograms
# (within 1%, see service.rollups) instead of sorting every value; PostgreSQL only.
EXACT_LIMIT = 50_000


@dataclass(frozen=True)
class Counts:
    """What adds up over a period: tickets, completed and on-time targets per kind, breaches."""

    volume: int = 0
    reopened: int = 0
    ever_resolved: int = 0
    completed: Counter = field(default_factory=Counter)
    on_time: Counter = field(default_factory=Counter)
    breaches: Counter = field(default_factory=Counter)
    late_unanswered: int = 0  # first responses breached and still not answered

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(
            self.volume + other.volume,
            self.reopened + other.reopened,
            self.ever_resolved + other.ever_resolved,
            self.completed + other.completed,
            self.on_time + other.on_time,
            self.breaches + other.breaches,
            self.late_unanswered + other.late_unanswered,
        )


# The roll-ups' columns for each kind: completed, on time, breached.
KIND_COLUMNS = {
    TargetKind.first_response: ("first_responses", "first_responses_on_time", "first_response_breaches"),
    TargetKind.next_response: ("next_responses", "next_responses_on_time", "next_response_breaches"),
    TargetKind.resolution: ("resolutions", "resolutions_on_time", "resolution_breaches"),
}


def summary(session: Session, where: ReportFilter) -> dict:
    """The figures a manager asks first: volume, on-time share, response times, backlog, breaches, reopens.

    On PostgreSQL, the whole months of a period are read from the roll-ups and only the days before and after
    them from the rows; a period with many completed targets gets its medians and p90s from the roll-ups'
    histograms ("percentiles_exact": false, within 1%).
    """
    months = rollups.whole_months(where.start, where.end) if _postgresql(session) else None
    if months is None:
        counts = _counted_rows(session, where, facts=False)
        timed, exact = all_timings(session, where), True
    else:
        edges = _edges(where, months)
        counts = sum(
            (_counted_rows(session, edge, facts=True) for edge in edges), _counted_rollups(session, where, months)
        )
        view = _view(where)
        exact = view is None or max(counts.completed.values(), default=0) <= EXACT_LIMIT
        timed = (
            all_timings(session, where) if exact else _estimated_timings(session, where, view, months, edges, counts)
        )
    first = timed.get(TargetKind.first_response, Timings())
    following = timed.get(TargetKind.next_response, Timings())
    resolution = timed.get(TargetKind.resolution, Timings())
    ticket_filter = _ticket_conditions(where, by_time=False)
    backlog = dict(
        session.exec(
            select(Ticket.sla_state, func.count())
            .where(col(Ticket.status).in_(OPEN_STATUSES), *ticket_filter)
            .group_by(Ticket.sla_state)
        ).all()
    )
    judged = first.count + counts.late_unanswered
    return {
        "volume": counts.volume,
        "first_responses": first.count,
        "on_time_share": round(first.within_target / judged, 4) if judged else None,
        "first_response_median_minutes": _rounded(first.median_business),
        "first_response_p90_minutes": _rounded(first.p90_business),
        "first_response_median_calendar_minutes": _rounded(first.median_calendar),
        "first_response_p90_calendar_minutes": _rounded(first.p90_calendar),
        "next_response_median_minutes": _rounded(following.median_business),
        "next_response_on_time_share": round(following.within_target / following.count, 4) if following.count else None,
        "resolution_median_minutes": _rounded(resolution.median_business),
        "resolution_median_calendar_minutes": _rounded(resolution.median_calendar),
        "percentiles_exact": exact,
        "breaches": sum(counts.breaches.values()),
        "breaches_by_target": {kind.value: counts.breaches.get(kind, 0) for kind in TargetKind},
        "backlog": {state.value: backlog.get(state, 0) for state in SlaState if state != SlaState.met},
        "backlog_total": sum(backlog.values()),
        "reopen_rate": round(counts.reopened / counts.ever_resolved, 4) if counts.ever_resolved else None,
    }


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _counted_rows(session: Session, where: ReportFilter, *, facts: bool) -> Counts:
    """Counts read from the tickets, targets and (with facts) response facts themselves."""
    volume, reopened, ever_resolved = session.exec(
        select(
            func.count(),
            func.count().filter(Ticket.reopen_count > 0),
            func.count().filter(
                col(Ticket.status).in_((TicketStatus.resolved, TicketStatus.closed)) | (Ticket.reopen_count > 0)
            ),
        ).where(*_ticket_conditions(where))
    ).one()
    # Breaches, and the first responses still missing but already late (they count against the on-time share),
    # in one pass; the tickets are joined only to filter on them.
    breached = select(SlaTarget.kind, func.count(), func.count().filter(col(SlaTarget.completed_at).is_(None))).where(
        SlaTarget.state == SlaState.breached, *_target_time(where)
    )
    ticket_filter = _ticket_conditions(where, by_time=False)
    if ticket_filter:
        breached = breached.join(Ticket, Ticket.id == SlaTarget.ticket_id).where(*ticket_filter)
    breaches: Counter = Counter()
    late_unanswered = 0
    for kind, count, unanswered in session.exec(breached.group_by(SlaTarget.kind)).all():
        breaches[TargetKind(kind)] = count
        if kind == TargetKind.first_response:
            late_unanswered = unanswered
    completed: Counter = Counter()
    on_time: Counter = Counter()
    if facts:
        for kind, count, within in session.exec(
            select(ResponseFact.kind, func.count(), func.count().filter(col(ResponseFact.within_target)))
            .where(*_fact_conditions(where, None))
            .group_by(ResponseFact.kind)
        ):
            completed[TargetKind(kind)], on_time[TargetKind(kind)] = count, within
    return Counts(volume, reopened, ever_resolved, completed, on_time, breaches, late_unanswered)


def _edges(where: ReportFilter, months: tuple[date | None, date | None]) -> list[ReportFilter]:
    """The parts of a period before its first whole month and after its last one."""
    first, after = months
    edges = []
    if where.start is not None and first is not None and where.start < rollups.month_start(first):
        edges.append(replace(where, end=rollups.month_start(first)))
    if where.end is not None and after is not None and rollups.month_start(after) < where.end:
        edges.append(replace(where, start=rollups.month_start(after)))
    return edges


def _rollup_conditions(table, where: ReportFilter, months: tuple[date | None, date | None]) -> list:
    first, after = months
    conditions = []
    if first is not None:
        conditions.append(table.month >= first)
    if after is not None:
        conditions.append(table.month < after)
    return conditions + _dimensions(table, where)


def _counted_rollups(session: Session, where: ReportFilter, months: tuple[date | None, date | None]) -> Counts:
    """Counts of whole months from the roll-ups and the change rows not folded in yet, in one statement."""
    rows = union_all(
        *(
            select(*(getattr(table, name) for name in rollups.COUNTERS)).where(
                *_rollup_conditions(table, where, months)
            )
            for table in (ReportTotals, ReportTotalsChange)
        )
    ).subquery()
    summed = dict(
        zip(
            rollups.COUNTERS,
            session.exec(select(*(func.coalesce(func.sum(rows.c[name]), 0) for name in rollups.COUNTERS))).one(),
            strict=True,
        )
    )
    return Counts(
        volume=summed["tickets"],
        reopened=summed["reopened"],
        ever_resolved=summed["ever_resolved"],
        completed=Counter({kind: summed[columns[0]] for kind, columns in KIND_COLUMNS.items()}),
        on_time=Counter({kind: summed[columns[1]] for kind, columns in KIND_COLUMNS.items()}),
        breaches=Counter({kind: summed[columns[2]] for kind, columns in KIND_COLUMNS.items()}),
        late_unanswered=summed["first_response_breaches_unanswered"],
    )


def _view(where: ReportFilter) -> tuple[str, str] | None:
    """The histograms that answer a filter: everyone's, or one department's, category's or channel's; None for a
    combination of filters (kept exact, from the rows)."""
    given = [
        (name, value)
        for name, value in (
            ("department", where.department_id),
            ("category", where.category),
            ("channel", where.channel),
        )
        if value is not None
    ]
    if not given:
        return "all", ""
    if len(given) == 1:
        name, value = given[0]
        return name, str(value)
    return None


CLOCKS = ("business", "calendar")


def _estimated_timings(
    session: Session,
    where: ReportFilter,
    view: tuple[str, str],
    months: tuple[date | None, date | None],
    edges: list[ReportFilter],
    counts: Counts,
) -> dict[TargetKind, Timings]:
    """Medians and p90s from the histograms of the whole months, the change rows not folded in yet and the facts of
    the edges bucketed on the fly; counts as counted."""
    dimension, value = view
    first, after = months
    folded = select(ReportMinutes.kind, ReportMinutes.clock, ReportMinutes.bucket, ReportMinutes.count).where(
        ReportMinutes.dimension == dimension, ReportMinutes.value == value
    )
    if first is not None:
        folded = folded.where(ReportMinutes.month >= first)
    if after is not None:
        folded = folded.where(ReportMinutes.month < after)
    parts = [folded]
    for clock in CLOCKS:
        bucket_column = getattr(ReportMinutesChange, f"{clock}_bucket")
        parts.append(
            select(ReportMinutesChange.kind, literal(clock), bucket_column, ReportMinutesChange.change).where(
                *_rollup_conditions(ReportMinutesChange, where, months)
            )
        )
        minutes = getattr(ResponseFact, f"{clock}_minutes")
        for edge in edges:
            parts.append(
                select(ResponseFact.kind, literal(clock), func.report_bucket(minutes), literal(1)).where(
                    *_fact_conditions(edge, None)
                )
            )
    rows = union_all(*parts).subquery()
    kind_, clock_, bucket_, count_ = rows.c
    histograms: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for kind, clock, bucket, count in session.exec(
        select(kind_, clock_, bucket_, func.sum(count_)).group_by(kind_, clock_, bucket_).order_by(bucket_)
    ):
        histograms[(kind, clock)].append((bucket, count))
    timings = {}
    for kind in TargetKind:
        if not counts.completed.get(kind):
            continue
        business, calendar = histograms[(kind.value, "business")], histograms[(kind.value, "calendar")]
        timings[kind] = Timings(
            count=counts.completed[kind],
            within_target=counts.on_time[kind],
            median_business=histogram_quantile(business, 0.5),
            p90_business=histogram_quantile(business, 0.9),
            median_calendar=histogram_quantile(calendar, 0.5),
            p90_calendar=histogram_quantile(calendar, 0.9),
        )
    return timings


def histogram_quantile(buckets: Sequence[tuple[int, int]], q: float) -> float | None:
    """percentile_cont over a histogram (bucket numbers in order, with counts): each value as its bucket's."""
    total = sum(count for _bucket, count in buckets)
    if total <= 0:
        return None
    position = q * (total - 1)
    low = int(position)
    high = min(low + 1, total - 1)

    def value_at(rank: int) -> float:
        seen = 0
        for bucket, count in buckets:
            seen += count
            if rank < seen:
                return rollups.bucket_value(bucket)
        return rollups.bucket_value(buckets[-1][0])

    low_value, high_value = value_at(low), value_at(high)
    return low_value + (high_value - low_value) * (position - low)


def _target_time(where: ReportFilter) -> list:
    conditions = []
    if where.start is not None:
        conditions.append(SlaTarget.started_at >= where.start)
    if where.end is not None:
        conditions.append(SlaTarget.started_at < where.end)
    return conditions


def _bucket(moment: datetime, interval: str) -> datetime:
    local = moment.astimezone(REPORT_TIMEZONE)
    if interval == "hour":
        local = local.replace(minute=0, second=0, microsecond=0)
    else:
        local = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if interval == "week":
            local -= timedelta(days=local.weekday())
    return local


def timeseries(session: Session, where: ReportFilter, *, interval: str) -> list[dict]:
    """Per hour, day or week (Amsterdam time): volume, first responses, on-time share, median first response."""
    volume = Counter(
        _bucket(sent_at, interval) for sent_at in session.exec(select(Ticket.sent_at).where(*_ticket_conditions(where)))
    )
    answered: dict[datetime, list[tuple[float, float, bool]]] = defaultdict(list)
    for started_at, business, calendar, within in session.exec(
        select(
            ResponseFact.started_at,
            ResponseFact.business_minutes,
            ResponseFact.calendar_minutes,
            ResponseFact.within_target,
        ).where(*_fact_conditions(where, TargetKind.first_response))
    ):
        answered[_bucket(started_at, interval)].append((business, calendar, within))
    rows = []
    for bucket in sorted(set(volume) | set(answered)):
        facts = answered.get(bucket, [])
        rows.append(
            {
                "start": bucket.isoformat(),
                "volume": volume.get(bucket, 0),
                "first_responses": len(facts),
                "on_time_share": round(sum(f[2] for f in facts) / len(facts), 4) if facts else None,
                "first_response_median_minutes": _rounded(quantile([f[0] for f in facts], 0.5)),
                "first_response_median_calendar_minutes": _rounded(quantile([f[1] for f in facts], 0.5)),
            }
        )
    return rows


def heatmap(session: Session, where: ReportFilter) -> list[list[int]]:
    """Messages by weekday (0 = Monday) and hour of day, Amsterdam time: when citizens write."""
    grid = [[0] * 24 for _ in range(7)]
    for sent_at in session.exec(select(Ticket.sent_at).where(*_ticket_conditions(where))):
        local = sent_at.astimezone(REPORT_TIMEZONE)
        grid[local.weekday()][local.hour] += 1
    return grid


CSV_COLUMNS = (
    "ticket",
    "kanaal",
    "categorie",
    "subcategorie",
    "afdeling",
    "prioriteit",
    "status",
    "verzonden",
    "eerste_reactie_deadline",
    "eerste_reactie_op",
    "eerste_reactie_minuten",
    "eerste_reactie_werkminuten",
    "eerste_reactie_op_tijd",
    "afhandeling_deadline",
    "afgehandeld_op",
    "afhandeling_minuten",
    "afhandeling_werkminuten",
    "afhandeling_op_tijd",
    "sla_status",
    "overschrijdingen",
    "heropend",
    "behandelaar",
)


def tickets_csv(engine: Engine, where: ReportFilter, *, separator: str = ";", bom: bool = True) -> Iterator[str]:
    """One row per ticket with every timing, for Excel: UTF-8 with BOM and ';' as Dutch Excel expects.

    Streams in batches with a session of its own, since it runs after the request's session has closed.
    """
    with Session(engine) as session:
        yield from _csv_rows(session, where, separator=separator, bom=bom)


def _csv_rows(session: Session, where: ReportFilter, *, separator: str, bom: bool) -> Iterator[str]:
    departments = dict(session.exec(select(Department.id, Department.slug)).all())
    users = dict(session.exec(select(User.id, User.username)).all())
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=separator, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return text

    if bom:
        buffer.write("\ufeff")
    writer.writerow(CSV_COLUMNS)
    yield flush()
    last_id = 0
    while True:
        batch = session.exec(
            select(Ticket).where(*_ticket_conditions(where), Ticket.id > last_id).order_by(col(Ticket.id)).limit(1000)
        ).all()
        if not batch:
            return
        ids = [t.id for t in batch]
        facts: dict[tuple[int, str], ResponseFact] = {}
        for fact in session.exec(
            select(ResponseFact).where(col(ResponseFact.ticket_id).in_(ids)).order_by(col(ResponseFact.completed_at))
        ):
            facts.setdefault((fact.ticket_id, fact.kind), fact)
        breaches = Counter(
            session.exec(
                select(SlaTarget.ticket_id).where(
                    col(SlaTarget.ticket_id).in_(ids), SlaTarget.state == SlaState.breached
                )
            ).all()
        )
        for t in batch:
            first = facts.get((t.id, TargetKind.first_response))
            resolution = facts.get((t.id, TargetKind.resolution))
            writer.writerow(
                [
                    t.id,
                    t.channel,
                    t.category,
                    t.subcategory or "",
                    departments.get(t.department_id, ""),
                    t.priority,
                    t.status,
                    _local(t.sent_at),
                    _local(t.first_response_due),
                    _local(first.completed_at if first else None),
                    _number(first, "calendar_minutes"),
                    _number(first, "business_minutes"),
                    _yes_no(first),
                    _local(t.resolution_due),
                    _local(resolution.completed_at if resolution else None),
                    _number(resolution, "calendar_minutes"),
                    _number(resolution, "business_minutes"),
                    _yes_no(resolution),
                    t.sla_state,
                    breaches.get(t.id, 0),
                    t.reopen_count,
                    users.get(t.assignee_id, ""),
                ]
            )
        yield flush()
        last_id = ids[-1]


def _local(moment: datetime | None) -> str:
    return moment.astimezone(REPORT_TIMEZONE).strftime("%Y-%m-%d %H:%M") if moment else ""


def _number(fact: ResponseFact | None, field: str) -> str:
    # Dutch Excel reads a decimal comma.
    return f"{getattr(fact, field):.1f}".replace(".", ",") if fact else ""


def _yes_no(fact: ResponseFact | None) -> str:
    return "" if fact is None else ("ja" if fact.within_target else "nee")
