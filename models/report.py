"""Roll-ups for reports over long periods: counts and response-time histograms per month (PostgreSQL only).

Triggers (migration 0009) write a change row for every ticket, target and response fact that counts; the worker
folds the change rows into the roll-ups every sweep (service.rollups.compact). A report reads roll-ups and the
change rows not yet folded in one statement, so it never misses or counts twice what a transaction committed.
On SQLite the tables exist and stay empty: reports there read the tickets and facts themselves.
"""

from datetime import date

from sqlmodel import BigInteger, Field, Integer, SmallInteger, SQLModel

# Change rows come and go all day; their ids keep counting.
CHANGE_ID = BigInteger().with_variant(Integer(), "sqlite")


def counter(description: str | None = None) -> int:
    # A default in the database too: the triggers write only the counts a change touches.
    return Field(default=0, description=description, sa_column_kwargs={"server_default": "0"})


class ReportCounts(SQLModel):
    """What adds up per month (Europe/Amsterdam), department, category and channel.

    Tickets count in the month the citizen wrote (sent_at), targets and facts in the month their clock started.
    """

    tickets: int = counter()
    reopened: int = counter()
    ever_resolved: int = counter("Resolved or closed now, or reopened since.")
    first_responses: int = counter()
    first_responses_on_time: int = counter()
    next_responses: int = counter()
    next_responses_on_time: int = counter()
    resolutions: int = counter()
    resolutions_on_time: int = counter()
    first_response_breaches: int = counter()
    next_response_breaches: int = counter()
    resolution_breaches: int = counter()
    first_response_breaches_unanswered: int = counter("Breached and still not answered.")


class ReportTotals(ReportCounts, table=True):
    __tablename__ = "report_totals"

    month: date = Field(primary_key=True, description="The first day of the month, Europe/Amsterdam.")
    department_id: int = Field(primary_key=True)
    category: str = Field(primary_key=True, max_length=40)
    channel: str = Field(primary_key=True, max_length=40)


class ReportTotalsChange(ReportCounts, table=True):
    """A change to report_totals that the worker has not folded in yet (negative counts take something away)."""

    __tablename__ = "report_totals_changes"

    id: int | None = Field(default=None, primary_key=True, sa_type=CHANGE_ID)
    month: date
    department_id: int
    category: str = Field(max_length=40)
    channel: str = Field(max_length=40)


class ReportMinutes(SQLModel, table=True):
    """How many completed targets of a kind took the minutes of one bucket, in one clock, per month.

    Kept for the whole organisation (dimension "all") and per department, category and channel separately, so a
    report with at most one of those filters reads only its own rows. Buckets: see service.rollups.
    """

    __tablename__ = "report_minutes"

    month: date = Field(primary_key=True)
    dimension: str = Field(primary_key=True, max_length=20)
    value: str = Field(primary_key=True, max_length=40)
    kind: str = Field(primary_key=True, max_length=40)
    clock: str = Field(primary_key=True, max_length=20)
    bucket: int = Field(primary_key=True, sa_type=SmallInteger)
    count: int = counter()


class ReportMinutesChange(SQLModel, table=True):
    """Response facts added (a positive change) or removed (negative), not yet folded into report_minutes."""

    __tablename__ = "report_minutes_changes"

    id: int | None = Field(default=None, primary_key=True, sa_type=CHANGE_ID)
    month: date
    department_id: int
    category: str = Field(max_length=40)
    channel: str = Field(max_length=40)
    kind: str = Field(max_length=40)
    business_bucket: int = Field(sa_type=SmallInteger)
    calendar_bucket: int = Field(sa_type=SmallInteger)
    change: int = Field(description="How many facts: positive added, negative removed.")
