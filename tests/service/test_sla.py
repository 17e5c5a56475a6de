"""Response-time targets: choosing the policy and deadlines in the owner's business time."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from models import Category, Clock, Priority, SlaState, TargetKind, TicketStatus
from service.calendar import BusinessCalendar
from service.configuration import read_config_file
from service.sla import (
    Policy,
    TargetView,
    choose_policy,
    clock_for,
    deadline,
    minutes_taken,
    paused_spans,
    resume,
    state_at,
    ticket_view,
)

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


@dataclass(frozen=True)
class Due:
    policy: Policy
    first_response_due: datetime
    resolution_due: datetime


def targets(category, priority, department, sent_at) -> Due:
    policy = choose_policy(POLICIES, category=category, priority=priority, department_id=IDS[department])
    clock = clock_for(policy, CALENDARS[IDS[department]])
    return Due(
        policy,
        deadline(sent_at, policy.first_response_minutes, clock, at_risk_share=0.8).due_at,
        deadline(sent_at, policy.resolution_minutes, clock, at_risk_share=0.8).due_at,
    )


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
    for moment in (due.first_response_due, due.resolution_due):
        local = moment.astimezone(AMSTERDAM)
        # Open at the deadline, or it is the closing minute of a slot; never on Koningsdag or Christmas.
        assert calendar.is_open(moment) or calendar.is_open(moment - timedelta(microseconds=1))
        assert local.date() not in NO_DEADLINE_DAYS
        assert moment >= sent_at


# States, pauses and minutes ---------------------------------------------------------------------

KCC = CALENDARS[IDS["kcc"]]
T0 = datetime(2026, 11, 18, 9, 0, tzinfo=UTC)  # Wednesday 10:00 Amsterdam


def test_state_at_each_moment():
    due, risk = T0 + timedelta(hours=2), T0 + timedelta(minutes=96)
    state = partial(state_at, due_at=due, at_risk_at=risk)
    assert state(now=T0, completed_at=None, paused=False) == SlaState.running
    assert state(now=risk, completed_at=None, paused=False) == SlaState.at_risk
    assert state(now=due, completed_at=None, paused=False) == SlaState.breached
    assert state(now=due + timedelta(days=3), completed_at=None, paused=True) == SlaState.paused
    assert state(now=due, completed_at=due, paused=False) == SlaState.met
    assert state(now=due, completed_at=due + timedelta(seconds=1), paused=False) == SlaState.breached


def view(kind, state, due, *, completed=False, paused=False):
    return TargetView(kind, state, due, T0, completed, paused)


def test_the_ticket_shows_the_target_that_matters_now():
    first = view(TargetKind.first_response, SlaState.at_risk, T0 + timedelta(hours=2))
    resolution = view(TargetKind.resolution, SlaState.running, T0 + timedelta(days=3))
    shown = ticket_view([first, resolution], status=TicketStatus.open)
    assert (shown.state, shown.next_due) == (SlaState.at_risk, first.due_at)

    answered = view(TargetKind.first_response, SlaState.breached, first.due_at, completed=True)
    shown = ticket_view([answered, resolution], status=TicketStatus.open)
    assert (shown.state, shown.next_due, shown.first_response_due) == (
        SlaState.running,
        resolution.due_at,
        first.due_at,
    )

    paused = view(TargetKind.resolution, SlaState.paused, resolution.due_at, paused=True)
    assert ticket_view([answered, paused], status=TicketStatus.waiting).state == SlaState.paused
    assert ticket_view([answered, paused], status=TicketStatus.waiting).next_due is None

    done = view(TargetKind.resolution, SlaState.met, resolution.due_at, completed=True)
    assert ticket_view([answered, done], status=TicketStatus.resolved).state == SlaState.breached
    on_time = view(TargetKind.first_response, SlaState.met, first.due_at, completed=True)
    assert ticket_view([on_time, done], status=TicketStatus.resolved).state == SlaState.met


def test_paused_spans_come_from_the_timeline():
    changes = [
        (T0 + timedelta(hours=1), "open", "waiting"),
        (T0 + timedelta(hours=3), "waiting", "open"),
        (T0 + timedelta(hours=5), "open", "waiting"),
    ]
    end = T0 + timedelta(hours=9)
    assert paused_spans(changes, until=end) == [
        (T0 + timedelta(hours=1), T0 + timedelta(hours=3)),
        (T0 + timedelta(hours=5), end),
    ]


def test_minutes_taken_leaves_pauses_out_in_both_clocks():
    # Tuesday 19:00 to Wednesday 12:00 Amsterdam, paused Wednesday 09:00-10:00.
    start, end = datetime(2026, 11, 17, 18, 0, tzinfo=UTC), datetime(2026, 11, 18, 11, 0, tzinfo=UTC)
    pause = [(datetime(2026, 11, 18, 8, 0, tzinfo=UTC), datetime(2026, 11, 18, 9, 0, tzinfo=UTC))]
    assert minutes_taken(start, end, KCC) == (17 * 60, 60 + 4 * 60)
    assert minutes_taken(start, end, KCC, pause) == (16 * 60, 60 + 3 * 60)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    minutes=st.integers(30, 3000),
    pause_after=st.integers(0, 4000),
    pause_for=st.integers(1, 10_000),
)
def test_a_pause_keeps_exactly_the_business_time_that_was_left(start, minutes, pause_after, pause_for):
    due = deadline(start, minutes, KCC, at_risk_share=0.8)
    paused_at = start + timedelta(minutes=pause_after)
    resumed_at = paused_at + timedelta(minutes=pause_for)
    after = resume(due.due_at, paused_at, resumed_at, KCC, target_minutes=minutes, at_risk_share=0.8)
    left = KCC.business_minutes_between(paused_at, due.due_at)
    if left <= 0:
        assert after.due_at == due.due_at
    else:
        assert abs(KCC.business_minutes_between(resumed_at, after.due_at) - left) < 1e-6
        assert after.at_risk_at <= after.due_at
