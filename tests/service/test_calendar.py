"""Tests for the business-time calendar: hand-computed examples and hypothesis properties."""

import dataclasses
import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.calendar import DAY_NAMES, BusinessCalendar

UTC = UTC
AMS = ZoneInfo("Europe/Amsterdam")
WEEKDAYS_0830_1700 = {day: [("08:30", "17:00")] for day in DAY_NAMES[:5]}


def ams(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def office(**kwargs) -> BusinessCalendar:
    return BusinessCalendar.from_config(opening_hours=WEEKDAYS_0830_1700, **kwargs)


def within_opening_hours(calendar: BusinessCalendar, instant: datetime) -> bool:
    """Open at ``instant``, or ``instant`` is the closing moment of a slot."""
    if calendar.is_open(instant):
        return True
    return any(end == instant for _, end in calendar.opening_slots(instant - timedelta(days=2), instant))


# Hand-computed examples.


def test_friday_evening_plus_four_hours_is_monday_half_past_twelve():
    result = office().add_business_time(ams(2025, 3, 14, 19, 0), 240)
    assert result == utc(2025, 3, 17, 11, 30)
    assert result.astimezone(AMS) == ams(2025, 3, 17, 12, 30)
    assert result.tzinfo is UTC


def test_result_exactly_at_closing_time_is_the_close_not_the_next_opening():
    calendar = office()
    result = calendar.add_business_time(ams(2025, 3, 17, 8, 30), 510)
    assert result == ams(2025, 3, 17, 17, 0)
    assert not calendar.is_open(result)
    assert within_opening_hours(calendar, result)
    assert calendar.add_business_time(ams(2025, 3, 17, 8, 30), 511) == ams(2025, 3, 18, 8, 31)


def test_zero_minutes_when_closed_is_the_next_opening_and_when_open_the_start():
    calendar = office()
    assert calendar.add_business_time(ams(2025, 3, 14, 19, 0), 0) == ams(2025, 3, 17, 8, 30)
    assert calendar.add_business_time(ams(2025, 3, 14, 17, 0), 0) == ams(2025, 3, 17, 8, 30)
    opened = calendar.add_business_time(ams(2025, 3, 14, 10, 15), 0)
    assert opened == ams(2025, 3, 14, 10, 15)
    assert opened.tzinfo is UTC


def test_next_open_and_is_open_at_slot_edges():
    calendar = office()
    assert calendar.is_open(ams(2025, 3, 17, 8, 30))
    assert not calendar.is_open(ams(2025, 3, 17, 8, 29, 59))
    assert calendar.is_open(ams(2025, 3, 17, 16, 59, 59))
    assert not calendar.is_open(ams(2025, 3, 17, 17, 0))
    assert calendar.next_open(ams(2025, 3, 17, 17, 0)) == ams(2025, 3, 18, 8, 30)
    assert calendar.next_open(ams(2025, 3, 17, 12, 0)) == ams(2025, 3, 17, 12, 0)


def test_office_hours_follow_the_wall_clock_across_spring_forward():
    # Friday 16:00 CET + 2 h: one hour on Friday, one on Monday after the clocks went forward.
    result = office().add_business_time(ams(2026, 3, 27, 16, 0), 120)
    assert result == utc(2026, 3, 30, 7, 30)
    assert result.astimezone(AMS) == ams(2026, 3, 30, 9, 30)


@pytest.mark.parametrize(
    ("sunday", "slot", "minutes"),
    [
        (date(2026, 3, 29), ("00:00", "24:00"), 23 * 60),
        (date(2026, 10, 25), ("00:00", "24:00"), 25 * 60),
        (date(2026, 3, 29), ("01:00", "04:00"), 2 * 60),
        (date(2026, 10, 25), ("01:00", "04:00"), 4 * 60),
        (date(2026, 3, 29), ("02:00", "02:30"), 0),  # wholly inside the skipped hour
        (date(2026, 10, 25), ("02:30", "03:00"), 90),  # first 02:30 to 03:00 after the repeat
        (date(2026, 6, 28), ("00:00", "24:00"), 24 * 60),
    ],
)
def test_sunday_slot_measures_real_elapsed_time_on_dst_days(sunday, slot, minutes):
    calendar = BusinessCalendar.from_config(opening_hours={"sunday": [slot]}, public_holidays=False)
    start = datetime.combine(sunday, time(), AMS)
    end = datetime.combine(sunday + timedelta(days=1), time(), AMS)
    assert calendar.business_minutes_between(start - timedelta(days=1), end) == minutes
    slots = list(calendar.opening_slots(start, end))
    assert sum((b - a for a, b in slots), timedelta()) == timedelta(minutes=minutes)
    assert len(slots) == (1 if minutes else 0)


def test_full_sunday_slot_on_dst_days_as_utc_intervals_and_deadlines():
    calendar = BusinessCalendar.from_config(opening_hours={"sunday": [("00:00", "24:00")]}, public_holidays=False)
    spring = list(calendar.opening_slots(ams(2026, 3, 28, 12), ams(2026, 3, 30, 12)))
    assert spring == [(utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))]
    autumn = list(calendar.opening_slots(ams(2026, 10, 24, 12), ams(2026, 10, 26, 12)))
    assert autumn == [(utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))]
    saturday = ams(2026, 10, 24, 12)
    assert calendar.add_business_time(saturday, 25 * 60) == ams(2026, 10, 26, 0, 0)
    assert calendar.add_business_time(saturday, 25 * 60 - 1) == ams(2026, 10, 25, 23, 59)
    assert calendar.add_business_time(saturday, 3 * 60) == utc(2026, 10, 25, 1, 0)  # 02:00 CET


def test_midnight_gap_in_santiago_starts_the_day_at_one():
    # Chile moved its clocks from 00:00 to 01:00 on Sunday 8 September 2024.
    santiago = ZoneInfo("America/Santiago")
    calendar = BusinessCalendar.from_config(
        timezone="America/Santiago", opening_hours={"sunday": [("00:00", "24:00")]}, public_holidays=False
    )
    slots = list(calendar.opening_slots(datetime(2024, 9, 7, tzinfo=santiago), datetime(2024, 9, 10, tzinfo=santiago)))
    assert slots == [(datetime(2024, 9, 8, 1, tzinfo=santiago), datetime(2024, 9, 9, tzinfo=santiago))]
    assert slots[0][1] - slots[0][0] == timedelta(hours=23)


def test_kings_day_2027_on_a_tuesday_is_skipped():
    calendar = office()
    assert calendar.is_holiday(date(2027, 4, 27)) == "King's Day"
    result = calendar.add_business_time(ams(2027, 4, 26, 16, 0), 120)
    assert result == ams(2027, 4, 28, 9, 30)
    assert not calendar.is_open(ams(2027, 4, 27, 12, 0))


def test_kings_day_2025_moved_to_saturday_because_27_april_was_a_sunday():
    hours = {**WEEKDAYS_0830_1700, "saturday": [("10:00", "14:00")]}
    calendar = BusinessCalendar.from_config(opening_hours=hours)
    assert calendar.is_holiday(date(2025, 4, 26)) == "King's Day"
    assert calendar.is_holiday(date(2025, 4, 27)) is None
    assert calendar.add_business_time(ams(2025, 4, 25, 16, 30), 60) == ams(2025, 4, 28, 9, 0)
    without_holidays = dataclasses.replace(calendar, public_holidays=False)
    assert without_holidays.add_business_time(ams(2025, 4, 25, 16, 30), 60) == ams(2025, 4, 26, 10, 30)


def test_christmas_and_second_christmas_day_are_skipped():
    calendar = office()
    assert calendar.is_holiday(date(2025, 12, 25)) == "Christmas Day"
    assert calendar.is_holiday(date(2025, 12, 26)) == "Second Day of Christmas"
    # One hour on Wednesday 24th; Thursday, Friday and the weekend closed.
    assert calendar.add_business_time(ams(2025, 12, 24, 16, 0), 120) == ams(2025, 12, 29, 9, 30)
    assert calendar.business_minutes_between(ams(2025, 12, 24, 16, 0), ams(2025, 12, 29, 9, 30)) == 120


def test_closure_day_is_skipped():
    calendar = office(closure_days=["2025-03-17", date(2025, 3, 20)])
    assert calendar.closure_days == frozenset({date(2025, 3, 17), date(2025, 3, 20)})
    assert calendar.is_holiday(date(2025, 3, 17)) == "closure day"
    assert calendar.is_holiday(date(2025, 3, 18)) is None
    assert calendar.add_business_time(ams(2025, 3, 14, 16, 0), 120) == ams(2025, 3, 18, 9, 30)
    assert calendar.next_open(ams(2025, 3, 14, 17, 0)) == ams(2025, 3, 18, 8, 30)


def test_holidays_are_whatever_the_holidays_package_says_for_the_netherlands():
    calendar = office()
    for year in range(2024, 2029):
        expected = holidays.country_holidays("NL", years=year, language="en_US")
        day = date(year, 1, 1)
        while day.year == year:
            assert calendar.is_holiday(day) == expected.get(day), day
            day += timedelta(days=1)


def test_always_open_adds_plain_minutes_through_dst_and_holidays():
    calendar = BusinessCalendar.always_open()
    start = ams(2026, 3, 1, 9, 15).astimezone(UTC)  # UTC, so adding a timedelta adds elapsed time
    assert calendar.add_business_time(start, 30 * 24 * 60) == start + timedelta(days=30)
    assert calendar.add_business_time(start, 0) == start
    assert calendar.business_minutes_between(ams(2025, 12, 24), ams(2025, 12, 27)) == 3 * 24 * 60
    assert calendar.business_minutes_between(ams(2026, 10, 25), ams(2026, 10, 26)) == 25 * 60
    assert calendar.is_holiday(date(2025, 12, 25)) is None
    assert calendar.is_open(ams(2025, 12, 25, 3, 0))
    assert list(calendar.opening_slots(start, start + timedelta(days=365))) == [(start, start + timedelta(days=365))]


def test_always_open_matches_the_general_day_walk():
    fast = BusinessCalendar.always_open()
    assert fast.opening_hours_config() == {day: [["00:00", "24:00"]] for day in DAY_NAMES}
    # The same hours given as configuration take the slot-by-slot path.
    walked = BusinessCalendar.from_config(
        opening_hours={day: [("00:00", "12:00"), ("12:00", "24:00")] for day in DAY_NAMES},
        public_holidays=False,
    )
    start = ams(2026, 3, 20, 7, 45)
    for minutes in (0, 1, 720, 12345.5, 30 * 24 * 60):
        assert walked.add_business_time(start, minutes) == fast.add_business_time(start, minutes)
    end = ams(2026, 11, 2)
    assert walked.business_minutes_between(start, end) == fast.business_minutes_between(start, end)
    assert list(walked.opening_slots(start, end)) == list(fast.opening_slots(start, end))


def test_opening_slots_lists_the_week_and_merges_across_midnight():
    week = list(office().opening_slots(ams(2025, 3, 16), ams(2025, 3, 23)))
    assert week == [(ams(2025, 3, day, 8, 30), ams(2025, 3, day, 17, 0)) for day in range(17, 22)]
    clipped = list(office().opening_slots(ams(2025, 3, 17, 12), ams(2025, 3, 18, 9)))
    assert clipped == [(ams(2025, 3, 17, 12), ams(2025, 3, 17, 17)), (ams(2025, 3, 18, 8, 30), ams(2025, 3, 18, 9))]
    assert list(office().opening_slots(ams(2025, 3, 18), ams(2025, 3, 17))) == []
    night = BusinessCalendar.from_config(
        opening_hours={"monday": [("20:00", "24:00")], "tuesday": [("00:00", "06:00")]}
    )
    assert list(night.opening_slots(ams(2025, 3, 17), ams(2025, 3, 19))) == [
        (ams(2025, 3, 17, 20), ams(2025, 3, 18, 6))
    ]


def test_business_minutes_between_is_negative_backwards():
    calendar = office()
    assert calendar.business_minutes_between(ams(2025, 3, 17, 9), ams(2025, 3, 17, 8)) == -30
    assert calendar.business_minutes_between(ams(2025, 3, 17, 9), ams(2025, 3, 17, 9)) == 0
    assert calendar.business_minutes_between(ams(2025, 3, 14, 16, 0), ams(2025, 3, 17, 9, 0)) == 90


def test_configuration_round_trips_and_calendars_are_values():
    calendar = office(closure_days=["2025-03-17"])
    config = calendar.opening_hours_config()
    assert config["monday"] == [["08:30", "17:00"]]
    assert config["sunday"] == []
    again = BusinessCalendar.from_config(opening_hours=config, closure_days=[date(2025, 3, 17)])
    assert again == calendar
    assert hash(again) == hash(calendar)
    assert dataclasses.replace(calendar, timezone="UTC").timezone == "UTC"
    assert BusinessCalendar() == BusinessCalendar.from_config(opening_hours=WEEKDAYS_0830_1700)
    unsorted = BusinessCalendar.from_config(opening_hours={"Monday": [("13:00", "17:00"), ("08:30", "12:00")]})
    assert unsorted.opening_hours_config()["monday"] == [["08:30", "12:00"], ["13:00", "17:00"]]


# Refused input.


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.is_open(datetime(2025, 3, 17, 9)),
        lambda c: c.next_open(datetime(2025, 3, 17, 9)),
        lambda c: c.add_business_time(datetime(2025, 3, 17, 9), 10),
        lambda c: c.add_business_time(datetime(2025, 3, 17, 9), 0),
        lambda c: c.business_minutes_between(datetime(2025, 3, 17, 9), ams(2025, 3, 17, 10)),
        lambda c: c.business_minutes_between(ams(2025, 3, 17, 9), datetime(2025, 3, 17, 10)),
        lambda c: list(c.opening_slots(datetime(2025, 3, 17), ams(2025, 3, 18))),
        lambda c: list(c.opening_slots(ams(2025, 3, 17), datetime(2025, 3, 18))),
    ],
)
@pytest.mark.parametrize("calendar", [office(), BusinessCalendar.always_open()], ids=["office", "always"])
def test_naive_datetimes_are_refused(call, calendar):
    with pytest.raises(ValueError, match="timezone-aware"):
        call(calendar)


@pytest.mark.parametrize("minutes", [-1, -0.5, math.nan, math.inf, "60", None, True])
def test_bad_minutes_are_refused(minutes):
    with pytest.raises(ValueError, match="minutes must be"):
        office().add_business_time(ams(2025, 3, 17, 9), minutes)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"opening_hours": {"maandag": [("08:30", "17:00")]}}, "unknown day 'maandag'"),
        ({"opening_hours": {"monday": [("8.30", "17:00")]}}, r"'8\.30' is not a time of day"),
        ({"opening_hours": {"monday": [("08:30", "25:00")]}}, "'25:00' is not a time of day"),
        ({"opening_hours": {"monday": [("08:60", "17:00")]}}, "'08:60' is not a time of day"),
        ({"opening_hours": {"monday": [("08:30", "24:30")]}}, "'24:30' is not a time of day"),
        ({"opening_hours": {"monday": [(830, "17:00")]}}, "830 is not a time of day"),
        ({"opening_hours": {"monday": [("17:00", "08:30")]}}, "slot 17:00-08:30 must close after it opens"),
        ({"opening_hours": {"monday": [("09:00", "09:00")]}}, "must close after it opens"),
        ({"opening_hours": {"monday": [("00:00", "00:00")]}}, "must close after it opens"),
        (
            {"opening_hours": {"monday": [("08:00", "12:00"), ("11:00", "13:00")]}},
            "slots 08:00-12:00 and 11:00-13:00 overlap",
        ),
        ({"opening_hours": {"monday": [("08:30",)]}}, r"\[open, close\] pair"),
        ({"opening_hours": {"monday": "08:30-17:00"}}, "must be a list"),
        ({"opening_hours": [("08:30", "17:00")]}, "must map day names"),
        ({"opening_hours": {}, "timezone": "Mars/Olympus_Mons"}, "unknown time zone 'Mars/Olympus_Mons'"),
        ({"opening_hours": {}, "closure_days": ["2025-13-01"]}, "closure day '2025-13-01' is not a date"),
        ({"opening_hours": {}, "closure_days": [datetime(2025, 3, 1, tzinfo=UTC)]}, "not a datetime"),
        ({"opening_hours": {}, "closure_days": "2025-03-01"}, "must be a list of dates"),
    ],
)
def test_invalid_configuration_is_refused_with_a_clear_message(config, message):
    with pytest.raises(ValueError, match=message):
        BusinessCalendar.from_config(**config)


def test_a_calendar_that_never_opens_says_so():
    calendar = BusinessCalendar.from_config(opening_hours={"monday": []})
    with pytest.raises(ValueError, match="no opening time within 400 days"):
        calendar.next_open(ams(2025, 3, 17))
    with pytest.raises(ValueError, match="no opening time within 400 days"):
        calendar.add_business_time(ams(2025, 3, 17), 10)
    assert calendar.business_minutes_between(ams(2025, 1, 1), ams(2026, 1, 1)) == 0
    assert not calendar.is_open(ams(2025, 3, 17, 12))


# Properties over random calendars.

TIMEZONES = [
    "Europe/Amsterdam",
    "Europe/Amsterdam",
    "UTC",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
]
# Boundaries at DST-prone times (01:00..03:00, midnight, end of day) come up often.
BOUNDARIES = st.one_of(st.integers(0, 1440), st.sampled_from([0, 60, 90, 120, 150, 180, 1440]))


def amsterdam_transitions() -> list[datetime]:
    result = []
    for year in range(2024, 2029):
        for month in (3, 10):
            last = max(date(year, month, day) for day in range(25, 32) if date(year, month, day).weekday() == 6)
            result.append(datetime.combine(last, time(1, 0), UTC))
    return result


INSTANTS = st.one_of(
    st.datetimes(datetime(2024, 1, 1), datetime(2028, 12, 31), timezones=st.just(UTC)),
    st.datetimes(
        datetime(2024, 1, 1), datetime(2028, 12, 31), timezones=st.sampled_from([AMS, ZoneInfo("America/New_York")])
    ),
    st.builds(
        lambda moment, offset: moment + timedelta(seconds=offset),
        st.sampled_from(amsterdam_transitions()),
        st.integers(-3 * 86400, 3 * 86400),
    ),
)


def minutes_text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def day_slots(draw) -> list[tuple[str, str]]:
    count = draw(st.integers(0, 3))
    points = sorted(draw(st.sets(BOUNDARIES, min_size=2 * count, max_size=2 * count)))
    return [(minutes_text(points[i]), minutes_text(points[i + 1])) for i in range(0, 2 * count, 2)]


@st.composite
def calendars(draw, near: datetime | None = None, timezones=TIMEZONES) -> BusinessCalendar:
    hours = {day: draw(day_slots()) for day in DAY_NAMES}
    if not any(hours.values()):
        hours[draw(st.sampled_from(DAY_NAMES))] = [("09:00", "17:00")]
    if near is None:
        closures = []
    else:
        local_day = near.astimezone(AMS).date()
        closures = [local_day + timedelta(days=offset) for offset in draw(st.lists(st.integers(-2, 21), max_size=5))]
    return BusinessCalendar.from_config(
        timezone=draw(st.sampled_from(timezones)),
        opening_hours=hours,
        closure_days=closures,
        public_holidays=draw(st.booleans()),
    )


def average_open_day_minutes(calendar: BusinessCalendar) -> float:
    open_days = [slots for slots in calendar.opening_hours if slots]
    return sum(close - open_ for slots in open_days for open_, close in slots) / len(open_days)


@st.composite
def scenarios(draw):
    start = draw(INSTANTS)
    calendar = draw(calendars(near=start))
    limit = 5 * average_open_day_minutes(calendar)  # up to five business days of this calendar
    minutes = draw(
        st.one_of(
            st.just(0),
            st.integers(0, int(limit)),
            st.floats(0, limit, allow_nan=False),
            st.just(limit),
        )
    )
    return calendar, start, minutes


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(scenarios())
def test_add_then_measure_round_trips_and_lands_within_opening_hours(scenario):
    calendar, start, minutes = scenario
    result = calendar.add_business_time(start, minutes)
    assert result.tzinfo is UTC
    assert result >= start
    assert math.isclose(calendar.business_minutes_between(start, result), minutes, abs_tol=1e-6)
    assert within_opening_hours(calendar, result)
    if minutes == 0:
        assert result == calendar.next_open(start)


@PROPERTY
@given(scenarios(), st.floats(0, 1))
def test_add_is_monotonic_in_minutes(scenario, fraction):
    calendar, start, minutes = scenario
    fewer = minutes * fraction
    assert calendar.add_business_time(start, fewer) <= calendar.add_business_time(start, minutes)


@PROPERTY
@given(
    st.data(),
    INSTANTS,
    st.lists(st.integers(-5 * 86400, 5 * 86400), min_size=2, max_size=2),
)
def test_between_is_antisymmetric_and_additive(data, a, offsets):
    calendar = data.draw(calendars(near=a))
    b, c = (a + timedelta(seconds=offset, microseconds=offset % 7) for offset in offsets)
    ab = calendar.business_minutes_between(a, b)
    assert ab == -calendar.business_minutes_between(b, a)
    assert math.isclose(
        ab + calendar.business_minutes_between(b, c), calendar.business_minutes_between(a, c), abs_tol=1e-6
    )
    # Order and subtract in UTC: Python compares same-zone datetimes by wall clock, ignoring `fold`.
    first, last = sorted((a.astimezone(UTC), b.astimezone(UTC)))
    span = calendar.business_minutes_between(first, last)
    assert 0 <= span <= (last - first) / timedelta(minutes=1)
    slots = list(calendar.opening_slots(first, last))
    assert math.isclose(sum((end - begin) / timedelta(minutes=1) for begin, end in slots), span, abs_tol=1e-6)
    assert all(begin < end for begin, end in slots)
    assert all(first[1] < second[0] for first, second in zip(slots, slots[1:]))


@PROPERTY
@given(st.data(), INSTANTS)
def test_next_open_is_the_first_open_moment(data, instant):
    calendar = data.draw(calendars(near=instant))
    opened = calendar.next_open(instant)
    # Compare in UTC: an instant with fold=1 never compares equal to one in another zone (PEP 495).
    instant = instant.astimezone(UTC)
    assert opened >= instant
    assert calendar.is_open(opened)
    assert calendar.business_minutes_between(instant, opened) == 0
    assert calendar.is_open(instant) == (opened == instant)


# An independent oracle on wall-clock minutes, for periods without a DST change.

NL_HOLIDAYS = holidays.country_holidays("NL", years=range(2024, 2029))


def oracle_is_open(calendar: BusinessCalendar, instant: datetime) -> bool:
    local = instant.astimezone(ZoneInfo(calendar.timezone))
    day = local.date()
    if day in calendar.closure_days or (calendar.public_holidays and day in NL_HOLIDAYS):
        return False
    minute = local.hour * 60 + local.minute
    return any(open_ <= minute < close for open_, close in calendar.opening_hours[day.weekday()])


@settings(max_examples=60, deadline=None)
@given(
    st.data(),
    # 1 April .. 20 October 2025 holds no DST change, and Easter, King's Day, Liberation Day,
    # Ascension and Whitsun.
    st.datetimes(datetime(2025, 4, 1), datetime(2025, 10, 20), timezones=st.just(AMS)),
    st.integers(0, 3 * 24 * 60),
)
def test_matches_a_minute_by_minute_oracle(data, start, length):
    start = start.replace(second=0, microsecond=0)
    calendar = data.draw(calendars(near=start, timezones=["Europe/Amsterdam", "UTC"]))
    minutes = [start + timedelta(minutes=i) for i in range(length)]
    open_minutes = [moment for moment in minutes if oracle_is_open(calendar, moment)]
    assert [calendar.is_open(moment) for moment in minutes] == [oracle_is_open(calendar, moment) for moment in minutes]
    assert calendar.business_minutes_between(start, start + timedelta(minutes=length)) == len(open_minutes)
    if open_minutes:
        assert calendar.next_open(start) == open_minutes[0]
        assert calendar.add_business_time(start, 0) == open_minutes[0]
        count = data.draw(st.integers(1, len(open_minutes)))
        assert calendar.add_business_time(start, count) == open_minutes[count - 1] + timedelta(minutes=1)
