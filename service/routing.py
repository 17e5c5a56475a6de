"""Routing: ordered rules, first match wins, deciding the owning department and priority."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from models import Category, Channel, OfficeHours, Priority
from service.calendar import BusinessCalendar


@dataclass(frozen=True)
class Rule:
    id: int | None
    name: str
    department_id: int
    category: Category | None = None
    channel: Channel | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    text_pattern: str | None = None
    office_hours: OfficeHours = OfficeHours.any
    hours_department_id: int | None = None
    priority: Priority | None = None
    deliver_to: tuple[str, ...] = ()
    acknowledge: bool = False


@dataclass(frozen=True)
class Case:
    """What routing looks at: the classified message."""

    category: Category
    confidence: float
    channel: Channel
    text: str
    urgent: bool
    sent_at: datetime


@dataclass(frozen=True)
class Route:
    department_id: int
    priority: Priority
    rule: Rule | None
    office_hours_open: bool | None  # whether the department the rule looked at was open; None if no rule asked


# Rules are re-read per message; compiling each pattern once keeps routing cheap.
_cache: dict[str, re.Pattern[str]] = {}


def _compiled(text_pattern: str) -> re.Pattern[str]:
    pattern = _cache.get(text_pattern)
    if pattern is None:
        pattern = _cache[text_pattern] = re.compile(text_pattern, re.IGNORECASE)
    return pattern


def validate_pattern(text_pattern: str) -> None:
    """Raise ValueError with the regex engine's message for a pattern that does not compile."""
    try:
        re.compile(text_pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"text_pattern is not a valid regular expression: {exc}") from exc


def matches(rule: Rule, case: Case, calendars: Mapping[int, BusinessCalendar]) -> tuple[bool, bool | None]:
    """Whether the rule applies, and (when it asked) whether the relevant department was open."""
    if rule.category is not None and rule.category != case.category:
        return False, None
    if rule.channel is not None and rule.channel != case.channel:
        return False, None
    if rule.min_confidence is not None and case.confidence < rule.min_confidence:
        return False, None
    if rule.max_confidence is not None and case.confidence >= rule.max_confidence:
        return False, None
    if rule.text_pattern and not _compiled(rule.text_pattern).search(case.text):
        return False, None
    if rule.office_hours == OfficeHours.any:
        return True, None
    calendar = calendars[rule.hours_department_id or rule.department_id]
    is_open = calendar.is_open(case.sent_at)
    return is_open == (rule.office_hours == OfficeHours.inside), is_open


def route(
    case: Case,
    rules: Sequence[Rule],
    calendars: Mapping[int, BusinessCalendar],
    *,
    fallback_department_id: int,
) -> Route:
    """Apply the rules in order; with no match the ticket goes to the fallback (triage) department."""
    urgency = Priority.urgent if case.urgent else Priority.normal
    for rule in rules:
        applies, is_open = matches(rule, case, calendars)
        if applies:
            priority = max(rule.priority or Priority.normal, urgency, key=lambda p: p.rank)
            return Route(rule.department_id, priority, rule, is_open)
    return Route(fallback_department_id, urgency, None, None)
