"""Response-time targets: choosing the policy, deadlines in business time, states, pauses (pure functions)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from models import Category, Clock, Priority, SlaState, TargetKind, TicketStatus
from service.calendar import BusinessCalendar


@dataclass(frozen=True)
class Policy:
    id: int | None
    name: str
    first_response_minutes: int
    resolution_minutes: int
    clock: Clock = Clock.business
    category: Category | None = None
    priority: Priority | None = None
    department_id: int | None = None

    def minutes(self, kind: TargetKind) -> int:
        # A next response is promised as fast as the first one.
        return self.resolution_minutes if kind == TargetKind.resolution else self.first_response_minutes


@dataclass(frozen=True)
class Deadline:
    due_at: datetime
    at_risk_at: datetime


@dataclass(frozen=True)
class TargetView:
    """What the ticket-level summary needs to know about one target."""

    kind: TargetKind
    state: SlaState
    due_at: datetime
    started_at: datetime
    completed: bool
    paused: bool


@dataclass(frozen=True)
class TicketSla:
    first_response_due: datetime | None
    next_response_due: datetime | None
    resolution_due: datetime | None
    next_due: datetime | None
    state: SlaState


def choose_policy(
    policies: Sequence[Policy], *, category: Category, priority: Priority, department_id: int
) -> Policy | None:
    """The first policy, in order, whose conditions all hold (an empty condition matches anything)."""
    for policy in policies:
        if policy.category is not None and policy.category != category:
            continue
        if policy.priority is not None and policy.priority != priority:
            continue
        if policy.department_id is not None and policy.department_id != department_id:
            continue
        return policy
    return None


def clock_for(policy: Policy, calendar: BusinessCalendar) -> BusinessCalendar:
    """The calendar a policy's minutes are counted in: the department's hours, or 24/7."""
    return calendar if policy.clock == Clock.business else BusinessCalendar.always_open(calendar.timezone)


def deadline(start: datetime, minutes: float, clock: BusinessCalendar, *, at_risk_share: float) -> Deadline:
    """When the target is due, and when it is at risk (that share of its time used), counted from `start`."""
    return Deadline(
        due_at=clock.add_business_time(start, minutes),
        at_risk_at=clock.add_business_time(start, minutes * at_risk_share),
    )


def resume(
    due: datetime,
    paused_at: datetime,
    resumed_at: datetime,
    clock: BusinessCalendar,
    *,
    target_minutes: float,
    at_risk_share: float,
) -> Deadline:
    """The deadline after a pause: the time that was left when the clock stopped, counted again from the resume."""
    remaining = clock.business_minutes_between(paused_at, due)
    if remaining <= 0:
        return Deadline(due, due)  # already breached when paused: pausing does not un-breach it
    before_risk = remaining - target_minutes * (1 - at_risk_share)
    return Deadline(
        due_at=clock.add_business_time(resumed_at, remaining),
        at_risk_at=clock.add_business_time(resumed_at, max(before_risk, 0)),
    )


def state_at(
    *, due_at: datetime, at_risk_at: datetime, now: datetime, completed_at: datetime | None, paused: bool
) -> SlaState:
    """A target's state at `now`: met or breached once completed, else by the clock (paused stops it)."""
    if completed_at is not None:
        return SlaState.met if completed_at <= due_at else SlaState.breached
    if paused:
        return SlaState.paused  # the clock stands still; a target breached before the pause keeps its record
    if now >= due_at:
        return SlaState.breached
    return SlaState.at_risk if now >= at_risk_at else SlaState.running


def ticket_view(targets: Iterable[TargetView], *, status: TicketStatus) -> TicketSla:
    """The ticket's deadlines and the one state shown for it, from its targets of the current cycle.

    Shown state: the open response target's (first or next) if there is one; else the resolution's
    (paused while waiting on the citizen); once all are done, breached if any was, else met.
    """
    targets = list(targets)
    latest = {}
    for target in sorted(targets, key=lambda t: t.started_at):
        latest[target.kind] = target
    first = latest.get(TargetKind.first_response)
    following = latest.get(TargetKind.next_response)
    resolution = latest.get(TargetKind.resolution)
    open_response = next((t for t in (first, following) if t is not None and not t.completed), None)
    open_resolution = resolution if resolution is not None and not resolution.completed else None
    if open_response is not None:
        state, next_due = open_response.state, open_response.due_at
    elif open_resolution is not None:
        state = (
            SlaState.paused
            if open_resolution.paused and open_resolution.state != SlaState.breached
            else open_resolution.state
        )
        next_due = None if open_resolution.paused else open_resolution.due_at
    else:
        state = SlaState.breached if any(t.state == SlaState.breached for t in targets) else SlaState.met
        next_due = None
    if status in (TicketStatus.resolved, TicketStatus.closed):
        next_due = None
    return TicketSla(
        first_response_due=first.due_at if first else None,
        next_response_due=following.due_at if following and not following.completed else None,
        resolution_due=resolution.due_at if resolution else None,
        next_due=next_due,
        state=state,
    )


def paused_spans(changes: Iterable[tuple[datetime, str, str]], *, until: datetime) -> list[tuple[datetime, datetime]]:
    """Spans spent waiting on the citizen, from the timeline's status changes (at, from, to)."""
    spans, started = [], None
    for at, before, after in sorted(changes):
        if after == TicketStatus.waiting and started is None:
            started = at
        elif before == TicketStatus.waiting and started is not None:
            spans.append((started, at))
            started = None
    if started is not None:
        spans.append((started, until))
    return spans


def minutes_taken(
    start: datetime, end: datetime, calendar: BusinessCalendar, pauses: Sequence[tuple[datetime, datetime]] = ()
) -> tuple[float, float]:
    """Time from start to end in calendar minutes and in the calendar's business minutes, pauses left out."""
    calendar_minutes = (end - start).total_seconds() / 60
    business_minutes = calendar.business_minutes_between(start, end)
    for paused_from, paused_to in pauses:
        paused_from, paused_to = max(paused_from, start), min(paused_to, end)
        if paused_to > paused_from:
            calendar_minutes -= (paused_to - paused_from).total_seconds() / 60
            business_minutes -= calendar.business_minutes_between(paused_from, paused_to)
    return calendar_minutes, business_minutes
