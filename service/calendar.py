"""Business-time calendar: office hours, Dutch public holidays and closure days, DST-correct."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = ["BusinessCalendar", "DAY_NAMES", "WeeklySlots"]

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_PER_DAY = 24 * 60
# Holiday names are pinned to one language so they do not depend on the process locale.
HOLIDAY_LANGUAGE = "en_US"
CLOSURE_DAY = "closure day"
# A calendar with no opening time for this many consecutive days is treated as never open.
MAX_CLOSED_DAYS = 400

# weekday (0 = Monday) -> sorted, non-overlapping (open, close) minutes from local midnight, 0..1440
WeeklySlots = tuple[tuple[tuple[int, int], ...], ...]

_UTC = UTC
_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)
_MICROSECOND = timedelta(microseconds=1)
_US_PER_MINUTE = 60_000_000
_HHMM = re.compile(r"([01]?\d|2[0-4]):([0-5]\d)")
_DAY_CACHE_LIMIT = 20_000

_OFFICE_HOURS: WeeklySlots = (((8 * 60 + 30, 17 * 60),),) * 5 + ((), ())
_ALWAYS: WeeklySlots = (((0, MINUTES_PER_DAY),),) * 7


@dataclass(frozen=True)
class BusinessCalendar:
    """When a department is open, and how much open time lies between two instants.

    Slots are half-open wall-clock intervals ``[open, close)`` in ``timezone``. A wall-clock
    time is pinned to the first instant the local clock shows it: a time skipped by the
    spring-forward gap maps to the moment of the jump, an hour repeated in the autumn maps to
    its first occurrence. So a slot across a DST change lasts its real elapsed time (Sunday
    00:00-24:00 is 23 h in March and 25 h in October) and a slot lying wholly inside the gap
    is empty.

    ``opening_hours`` accepts the configuration form ``{"monday": [("08:30", "17:00")], ...}``
    (missing days are closed, "24:00" is the end of the day) and is stored normalized as
    ``WeeklySlots``. Inputs must be timezone-aware; every datetime returned is aware UTC.
    """

    timezone: str = "Europe/Amsterdam"
    opening_hours: Mapping[str, Sequence[Sequence[str]]] | WeeklySlots = _OFFICE_HOURS
    closure_days: frozenset[date] = frozenset()
    public_holidays: bool = True
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _days: dict[int, tuple[tuple[int, int], ...]] = field(init=False, repr=False, compare=False)
    _always_open: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        zone = _zone(self.timezone)
        weekly = _normalize_opening_hours(self.opening_hours)
        closures = frozenset(_parse_closure_day(day) for day in self.closure_days)
        object.__setattr__(self, "opening_hours", weekly)
        object.__setattr__(self, "closure_days", closures)
        object.__setattr__(self, "public_holidays", bool(self.public_holidays))
        object.__setattr__(self, "_zone", zone)
        # Calendars rebuilt from configuration on every request share their computed days.
        object.__setattr__(self, "_days", _day_cache(self.timezone, weekly, closures, self.public_holidays))
        object.__setattr__(self, "_always_open", weekly == _ALWAYS and not closures and not self.public_holidays)

    @classmethod
    def always_open(cls, timezone: str = "Europe/Amsterdam") -> BusinessCalendar:
        """Around the clock, holidays included: for urgent safety policies."""
        return cls(timezone=timezone, opening_hours=_ALWAYS, public_holidays=False)

    @classmethod
    def from_config(
        cls,
        *,
        timezone: str = "Europe/Amsterdam",
        opening_hours: Mapping[str, Sequence[Sequence[str]]],
        closure_days: Iterable[date | str] = (),
        public_holidays: bool = True,
    ) -> BusinessCalendar:
        """Build from department configuration; ValueError with a clear message when invalid."""
        if not isinstance(opening_hours, Mapping):
            raise ValueError("opening_hours must map day names (monday..sunday) to slot lists")
        if isinstance(closure_days, (str, date)):
            raise ValueError("closure_days must be a list of dates")
        return cls(
            timezone=timezone,
            opening_hours=opening_hours,
            closure_days=frozenset(_parse_closure_day(day) for day in closure_days),
            public_holidays=public_holidays,
        )

    def opening_hours_config(self) -> dict[str, list[list[str]]]:
        """Configuration form with every day present: {"monday": [["08:30", "17:00"]], ...}."""
        return {
            name: [[_format_minutes(open_), _format_minutes(close)] for open_, close in slots]
            for name, slots in zip(DAY_NAMES, self.opening_hours)
        }

    def is_holiday(self, day: date) -> str | None:
        """The public holiday's name, "closure day", or None when ``day`` is an ordinary day."""
        if isinstance(day, datetime) or not isinstance(day, date):
            raise ValueError(f"expected a date, got {day!r}")
        if self.public_holidays:
            name = _dutch_holidays(day.year).get(day)
            if name is not None:
                return name
        return CLOSURE_DAY if day in self.closure_days else None

    def is_open(self, instant: datetime) -> bool:
        if self._always_open:
            _require_aware(instant, "instant")
            return True
        at = _to_us(instant, "instant")
        day = self._local_date(instant)
        # A slot never reaches past the next local midnight, so the local day holds the answer.
        return any(start <= at < end for start, end in self._slots(day))

    def next_open(self, instant: datetime) -> datetime:
        """``instant`` itself when open, else the start of the next open slot."""
        at = _to_us(instant, "instant")
        if self._always_open:
            return _from_us(at)
        day = self._local_date(instant)
        for _ in range(MAX_CLOSED_DAYS + 1):
            for start, end in self._slots(day):
                if end > at:
                    return _from_us(max(start, at))
            day += timedelta(days=1)
        raise ValueError(f"calendar has no opening time within {MAX_CLOSED_DAYS} days of {instant}")

    def add_business_time(self, start: datetime, minutes: float) -> datetime:
        """The instant at which ``minutes`` of open time have passed since ``start``.

        With ``minutes == 0`` this is ``next_open(start)``: a deadline never falls outside
        opening hours. With ``minutes > 0`` it is the first instant at which the accumulated
        open time equals ``minutes``; when that is exactly the close of a slot, the close is
        returned (not the next opening), so the result is either open or the closing instant
        of a slot, and ``business_minutes_between(start, result) == minutes`` (to 1 µs).
        """
        remaining = _minutes_to_us(minutes)
        at = _to_us(start, "start")
        if remaining == 0:
            return self.next_open(start)
        if self._always_open:
            return _from_us(at + remaining)
        day = self._local_date(start)
        closed_days = 0
        while True:
            slots = self._slots(day)
            for slot_start, slot_end in slots:
                if slot_end <= at:
                    continue
                begin = max(slot_start, at)
                available = slot_end - begin
                if remaining <= available:
                    return _from_us(begin + remaining)
                remaining -= available
            closed_days = 0 if slots else closed_days + 1
            if closed_days > MAX_CLOSED_DAYS:
                raise ValueError(f"calendar has no opening time within {MAX_CLOSED_DAYS} days of {start}")
            day += timedelta(days=1)

    def business_minutes_between(self, a: datetime, b: datetime) -> float:
        """Open minutes in ``[a, b)``; negative when ``b`` is before ``a``."""
        a_us, b_us = _to_us(a, "a"), _to_us(b, "b")
        if b_us < a_us:
            return -self.business_minutes_between(b, a)
        if self._always_open:
            return (b_us - a_us) / _US_PER_MINUTE
        total = sum(end - start for start, end in self._clipped(a, a_us, b, b_us))
        return total / _US_PER_MINUTE

    def opening_slots(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals intersected with ``[start, end)``, touching intervals merged."""
        start_us, end_us = _to_us(start, "start"), _to_us(end, "end")
        if self._always_open:
            intervals: Iterable[tuple[int, int]] = [(start_us, end_us)] if end_us > start_us else []
        else:
            intervals = self._clipped(start, start_us, end, end_us)
        pending: tuple[int, int] | None = None
        for begin, finish in intervals:
            if pending is not None and pending[1] == begin:
                pending = (pending[0], finish)
                continue
            if pending is not None:
                yield _from_us(pending[0]), _from_us(pending[1])
            pending = (begin, finish)
        if pending is not None:
            yield _from_us(pending[0]), _from_us(pending[1])

    def _clipped(self, start: datetime, start_us: int, end: datetime, end_us: int) -> Iterator[tuple[int, int]]:
        if end_us <= start_us:
            return
        day, last = self._local_date(start), self._local_date(end)
        while day <= last:
            for slot_start, slot_end in self._slots(day):
                begin, finish = max(slot_start, start_us), min(slot_end, end_us)
                if finish > begin:
                    yield begin, finish
            day += timedelta(days=1)

    def _local_date(self, instant: datetime) -> date:
        return instant.astimezone(self._zone).date()

    def _slots(self, day: date) -> tuple[tuple[int, int], ...]:
        """The day's non-empty open intervals as UTC microseconds since the epoch."""
        key = day.toordinal()
        cached = self._days.get(key)
        if cached is not None:
            return cached
        slots: tuple[tuple[int, int], ...] = ()
        if self.is_holiday(day) is None:
            intervals = (
                (self._wall_to_us(day, open_), self._wall_to_us(day, close))
                for open_, close in self.opening_hours[day.weekday()]
            )
            slots = tuple((start, end) for start, end in intervals if end > start)
        if len(self._days) >= _DAY_CACHE_LIMIT:
            self._days.clear()
        self._days[key] = slots
        return slots

    def _wall_to_us(self, day: date, minute: int) -> int:
        """The first instant at which the local clock shows ``minute`` past midnight of ``day``."""
        wall = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
        first = wall.replace(tzinfo=self._zone)  # fold=0: the earlier of a repeated time
        if first.astimezone(_UTC).astimezone(self._zone).replace(tzinfo=None) == wall:
            return _to_us(first, "wall")
        # In the spring-forward gap: the clock first shows this time at the jump itself.
        # fold=0 and fold=1 resolve the missing time with the offsets on either side, so the
        # transition lies between them; tz transitions fall on whole seconds.
        second = wall.replace(tzinfo=self._zone, fold=1)
        earlier, later = sorted((_to_us(first, "wall"), _to_us(second, "wall")))
        low, high = earlier // 1_000_000, -(-later // 1_000_000)
        after_offset = self._offset_at(high)
        while high - low > 1:
            middle = (low + high) // 2
            if self._offset_at(middle) == after_offset:
                high = middle
            else:
                low = middle
        return high * 1_000_000

    def _offset_at(self, seconds: int) -> timedelta | None:
        return (_EPOCH + timedelta(seconds=seconds)).astimezone(self._zone).utcoffset()


@lru_cache(maxsize=256)
def _day_cache(
    timezone: str, weekly: WeeklySlots, closures: frozenset[date], public_holidays: bool
) -> dict[int, tuple[tuple[int, int], ...]]:
    return {}


@lru_cache(maxsize=64)
def _dutch_holidays(year: int) -> dict[date, str]:
    return dict(holidays.country_holidays("NL", years=year, language=HOLIDAY_LANGUAGE))


def _zone(name: object) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ValueError(f"timezone must be an IANA time zone name, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}") from error


def _normalize_opening_hours(opening_hours: object) -> WeeklySlots:
    if _is_weekly_slots(opening_hours):
        return opening_hours  # type: ignore[return-value]
    if not isinstance(opening_hours, Mapping):
        raise ValueError("opening_hours must map day names (monday..sunday) to slot lists")
    weekly: list[tuple[tuple[int, int], ...]] = [()] * 7
    for raw_day, raw_slots in opening_hours.items():
        day = raw_day.strip().lower() if isinstance(raw_day, str) else raw_day
        if day not in DAY_NAMES:
            raise ValueError(f"opening_hours: unknown day {raw_day!r} (expected one of {', '.join(DAY_NAMES)})")
        if isinstance(raw_slots, str) or not isinstance(raw_slots, Sequence):
            raise ValueError(f"opening_hours[{day!r}] must be a list of [open, close] pairs, got {raw_slots!r}")
        slots = []
        for raw_slot in raw_slots:
            if isinstance(raw_slot, str) or not isinstance(raw_slot, Sequence) or len(raw_slot) != 2:
                raise ValueError(f"opening_hours[{day!r}]: each slot must be an [open, close] pair, got {raw_slot!r}")
            open_, close = (_parse_hhmm(value, day) for value in raw_slot)
            if close <= open_:
                raise ValueError(f"opening_hours[{day!r}]: slot {raw_slot[0]}-{raw_slot[1]} must close after it opens")
            slots.append((open_, close))
        slots.sort()
        for (open_a, close_a), (open_b, close_b) in zip(slots, slots[1:]):
            if open_b < close_a:
                raise ValueError(
                    f"opening_hours[{day!r}]: slots {_format_minutes(open_a)}-{_format_minutes(close_a)}"
                    f" and {_format_minutes(open_b)}-{_format_minutes(close_b)} overlap"
                )
        weekly[DAY_NAMES.index(day)] = tuple(slots)
    return tuple(weekly)


def _is_weekly_slots(value: object) -> bool:
    """True for an already-normalized ``WeeklySlots`` value (as ``dataclasses.replace`` passes back)."""
    if not isinstance(value, tuple) or len(value) != 7:
        return False
    for slots in value:
        if not isinstance(slots, tuple):
            return False
        previous_close = 0
        for slot in slots:
            if not (
                isinstance(slot, tuple)
                and len(slot) == 2
                and all(type(part) is int for part in slot)
                and previous_close <= slot[0] < slot[1] <= MINUTES_PER_DAY
            ):
                return False
            previous_close = slot[1]
    return True


def _parse_hhmm(value: object, day: str) -> int:
    match = _HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError(f'opening_hours[{day!r}]: {value!r} is not a time of day as "HH:MM" (00:00..24:00)')
    return int(match.group(1)) * 60 + int(match.group(2))


def _format_minutes(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_closure_day(value: object) -> date:
    if isinstance(value, datetime):
        raise ValueError(f"closure day must be a date, not a datetime: {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"closure day {value!r} is not a date (expected YYYY-MM-DD)")


def _require_aware(instant: object, name: str) -> datetime:
    if not isinstance(instant, datetime):
        raise ValueError(f"{name} must be a datetime, got {instant!r}")
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {instant.isoformat()}")
    return instant


def _to_us(instant: datetime, name: str) -> int:
    return (_require_aware(instant, name) - _EPOCH) // _MICROSECOND


def _from_us(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


def _minutes_to_us(minutes: float) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)):
        raise ValueError(f"minutes must be a number, got {minutes!r}")
    if not math.isfinite(minutes) or minutes < 0:
        raise ValueError(f"minutes must be finite and not negative, got {minutes!r}")
    return round(minutes * _US_PER_MINUTE)
