"""Response-time targets: choosing the policy and deadlines in the owner's business time."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from models import Category, Clock, Priority
from service.calendar import BusinessCalendar
from service.configuration import read_config_file
from service.sla import Policy, choose_policy, compute_targets

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
CONFIG = read_config_file()
IDS = {d.slug: i for i, d in enumerate(CONFIG.departments, start=1)}
CALENDARS = {
    IDS[d.slug]: BusinessCalendar.from_config(
        timezone=d.timezone, opening_hours=d.opening_hours, closure_days=d.closure_days
    )
    for d in CONFIG.departments
}
POLICIES = [
    Policy(
        id=p.position,
        name=p.name,
        first_response_minutes=p.first_response_minutes,
        resolution_minutes=p.resolution_minutes,
        clock=p.clock,
        category=p.category,
        priority=p.priority,
        department_id=IDS[p.department] if p.department else None,
    )
    for p in CONFIG.sla_policies
]


def targets(category, priority, department, sent_at):
    policy = choose_policy(POLICIES, category=category, priority=priority, department_id=IDS[department])
    return compute_targets(policy, CALENDARS[IDS[department]], sent_at)


def test_policies_are_chosen_in_order():
    assert (
        choose_policy(
            POLICIES, category=Category.communication, priority=Priority.urgent, department_id=IDS["kcc"]
        ).name
        == "Urgent (veiligheid): 24/7"
    )
    assert (
        choose_policy(
            POLICIES, category=Category.communication, priority=Priority.normal, department_id=IDS["triage"]
        ).name
        == "Triage: snel beoordelen"
    )
    assert (
        choose_policy(
            POLICIES, category=Category.service_question, priority=Priority.high, department_id=IDS["kcc"]
        ).name
        == "Vraag over dienstverlening"
    )


def test_every_category_and_priority_has_a_policy_in_every_department():
    for category in Category:
        for priority in Priority:
            for department_id in IDS.values():
                policy = choose_policy(POLICIES, category=category, priority=priority, department_id=department_id)
                assert policy is not None


def test_friday_evening_communication_is_due_monday_within_communications_hours():
    due = targets(
        Category.communication, Priority.normal, "communicatie", datetime(2026, 11, 20, 19, 0, tzinfo=AMSTERDAM)
    )
    assert due.first_response_due.astimezone(AMSTERDAM) == datetime(2026, 11, 23, 12, 30, tzinfo=AMSTERDAM)


def test_kings_day_and_christmas_are_skipped():
    # Monday 26 April 2027 14:00: 180 of the 240 minutes that day; Koningsdag (Tuesday 27 April) is closed.
    kings = targets(
        Category.communication, Priority.normal, "communicatie", datetime(2027, 4, 26, 14, 0, tzinfo=AMSTERDAM)
    )
    assert kings.first_response_due.astimezone(AMSTERDAM) == datetime(2027, 4, 28, 9, 30, tzinfo=AMSTERDAM)
    # Thursday 24 December 2026 16:00, Christmas on Friday and Saturday: Monday 28 December.
    christmas = targets(
        Category.communication, Priority.normal, "communicatie", datetime(2026, 12, 24, 16, 0, tzinfo=AMSTERDAM)
    )
    assert christmas.first_response_due.astimezone(AMSTERDAM) == datetime(2026, 12, 28, 11, 30, tzinfo=AMSTERDAM)


def test_urgent_targets_run_on_the_calendar_clock():
    sent = datetime(2026, 12, 25, 3, 0, tzinfo=UTC)
    due = targets(Category.public_space_report, Priority.urgent, "kcc", sent)
    assert due.policy.clock == Clock.calendar
    assert (due.first_response_due, due.resolution_due) == (sent + timedelta(minutes=30), sent + timedelta(hours=4))


NO_DEADLINE_DAYS = {
    date(2026, 4, 27),
    date(2027, 4, 27),
    date(2028, 4, 27),
    date(2026, 12, 25),
    date(2027, 12, 25),
    date(2028, 12, 25),
    date(2026, 12, 26),
    date(2027, 12, 26),
}


@settings(max_examples=300, deadline=None)
@given(
    sent_at=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)),
    category=st.sampled_from(list(Category)),
    priority=st.sampled_from([Priority.normal, Priority.high]),
    department=st.sampled_from(["kcc", "communicatie", "triage"]),
)
def test_business_deadlines_fall_inside_the_owners_opening_hours(sent_at, category, priority, department):
    due = targets(category, priority, department, sent_at)
    calendar = CALENDARS[IDS[department]]
    for deadline in (due.first_response_due, due.resolution_due):
        local = deadline.astimezone(AMSTERDAM)
        # Open at the deadline, or it is the closing minute of a slot; never on Koningsdag or Christmas.
        assert calendar.is_open(deadline) or calendar.is_open(deadline - timedelta(microseconds=1))
        assert local.date() not in NO_DEADLINE_DAYS
        assert deadline >= sent_at
