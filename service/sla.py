"""Response-time targets: choosing the policy and computing deadlines in business time."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from models import Category, Clock, Priority
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


@dataclass(frozen=True)
class Targets:
    policy: Policy
    first_response_due: datetime
    resolution_due: datetime


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


def compute_targets(policy: Policy, calendar: BusinessCalendar, start: datetime) -> Targets:
    """Deadlines counted from `start` (when the citizen sent the message) in the policy's clock."""
    clock = clock_for(policy, calendar)
    return Targets(
        policy=policy,
        first_response_due=clock.add_business_time(start, policy.first_response_minutes),
        resolution_due=clock.add_business_time(start, policy.resolution_minutes),
    )


def clock_for(policy: Policy, calendar: BusinessCalendar) -> BusinessCalendar:
    """The calendar a policy's minutes are counted in: the department's hours, or 24/7."""
    return calendar if policy.clock == Clock.business else BusinessCalendar.always_open(calendar.timezone)


def resume(due: datetime, paused_at: datetime, resumed_at: datetime, clock: BusinessCalendar) -> datetime:
    """The deadline after a pause: the time that was left when the clock stopped, counted again from now."""
    remaining = clock.business_minutes_between(paused_at, due)
    if remaining <= 0:
        return due  # already breached when paused: pausing does not un-breach it
    return clock.add_business_time(resumed_at, remaining)
