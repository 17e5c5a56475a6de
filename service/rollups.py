"""Monthly roll-ups for reports over long periods (PostgreSQL): folding the triggers' change rows in, months, buckets.

The tables are in models.report, the triggers that fill the change tables in migration 0009. Response times are
kept as histograms: bucket 0 holds no time at all, bucket 1 up to 6 seconds, and every bucket after it is 2% wider
than the one before, so the value a bucket stands for is within RELATIVE_ERROR (just under 1%) of every time in it.
A median or p90 read from the histograms is therefore within 1% (or 3 seconds) of the exact one.
"""

import logging
import math
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, text

from models import ReportCounts

log = logging.getLogger(__name__)

# Reports count days, weeks and months as the municipality does; migration 0009 names the same zone.
REPORT_TIMEZONE = ZoneInfo("Europe/Amsterdam")

GROWTH = 1.02
SMALLEST = 0.1  # minutes
RELATIVE_ERROR = (GROWTH - 1) / (GROWTH + 1)
COUNTERS = tuple(ReportCounts.model_fields)
# Any constant will do, as long as nothing else takes the same advisory lock.
COMPACTION_LOCK = 0x5EB_CA4E


def bucket(minutes: float) -> int:
    """The bucket of a response time: what the database's report_bucket() computes."""
    if minutes <= 0:
        return 0
    if minutes <= SMALLEST:
        return 1
    return 1 + math.ceil(math.log(minutes / SMALLEST) / math.log(GROWTH))


def bucket_value(number: int) -> float:
    """The time a bucket stands for: bucket n >= 2 holds (0.1·g^(n-2), 0.1·g^(n-1)] minutes, g = GROWTH."""
    if number <= 0:
        return 0.0
    if number == 1:
        return SMALLEST / 2
    return SMALLEST * 2 * GROWTH ** (number - 1) / (GROWTH + 1)


def month_of(moment: datetime) -> date:
    local = moment.astimezone(REPORT_TIMEZONE)
    return date(local.year, local.month, 1)


def month_start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=REPORT_TIMEZONE)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def whole_months(start: datetime | None, end: datetime | None) -> tuple[date | None, date | None] | None:
    """The whole months (Europe/Amsterdam) within [start, end), as (first month, month after the last); a bound of
    None is open. None when the period holds no whole month."""
    first = None
    if start is not None:
        first = month_of(start)
        if month_start(first) < start:
            first = next_month(first)
    last = None if end is None else month_of(end)
    if first is not None and last is not None and first >= last:
        return None
    return first, last


def compact(engine: Engine) -> dict[str, int]:
    """Fold the change rows into the roll-ups, in one transaction; one process at a time, the others skip."""
    if engine.dialect.name != "postgresql":
        return {}
    with engine.begin() as connection:
        if not connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": COMPACTION_LOCK}).scalar():
            return {}
        totals = connection.execute(text(FOLD_TOTALS)).rowcount
        minutes = connection.execute(text(FOLD_MINUTES)).rowcount
    if totals or minutes:
        log.debug("report roll-ups: %d totals rows and %d histogram rows updated", totals, minutes)
    return {"totals": totals, "minutes": minutes}


_KEY = "month, department_id, category, channel"
FOLD_TOTALS = f"""
WITH moved AS (DELETE FROM report_totals_changes RETURNING {_KEY}, {", ".join(COUNTERS)})
INSERT INTO report_totals ({_KEY}, {", ".join(COUNTERS)})
SELECT {_KEY}, {", ".join(f"sum({c})" for c in COUNTERS)} FROM moved
GROUP BY {_KEY} ORDER BY {_KEY}
ON CONFLICT ({_KEY}) DO UPDATE SET {", ".join(f"{c} = report_totals.{c} + excluded.{c}" for c in COUNTERS)}
"""
# Every change counts in four histograms (everyone, its department, its category, its channel), in both clocks.
# Rows are written in key order, so two folds can never wait on each other crosswise.
FOLD_MINUTES = """
WITH moved AS (
    DELETE FROM report_minutes_changes
    RETURNING month, department_id, category, channel, kind, business_bucket, calendar_bucket, change
)
INSERT INTO report_minutes (month, dimension, value, kind, clock, bucket, count)
SELECT m.month, v.dimension, v.value, m.kind, c.clock,
       CASE c.clock WHEN 'business' THEN m.business_bucket ELSE m.calendar_bucket END, sum(m.change)
FROM moved AS m
CROSS JOIN LATERAL (VALUES ('all', ''), ('department', m.department_id::text), ('category', m.category),
                           ('channel', m.channel)) AS v(dimension, value)
CROSS JOIN (VALUES ('business'), ('calendar')) AS c(clock)
GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6
ON CONFLICT (month, dimension, value, kind, clock, bucket) DO UPDATE SET count = report_minutes.count + excluded.count
"""
