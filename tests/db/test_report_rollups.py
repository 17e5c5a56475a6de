"""The report roll-ups (PostgreSQL): kept right by the triggers through a ticket's whole life, folded in without
counting twice, and a summary read from them that matches the one read from the rows."""

import dataclasses
import importlib.util
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from models import Category, Channel, Department, ReportTotalsChange
from service import reports, rollups
from service.reports import ReportFilter
from tests.api.test_queue import AMS, at, post
from tests.api.test_sla_reports import build_week, reply, sweep, ticket

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

OCTOBER, NOVEMBER = datetime(2026, 10, 1).date(), datetime(2026, 11, 1).date()


def change(client, users, ticket_id, **fields):
    response = client.patch(
        f"/api/v1/tickets/{ticket_id}",
        json={"version": ticket(client, users, ticket_id)["version"], **fields},
        headers=users["admin"],
    )
    assert response.status_code == 200, response.text
    return response.json()


def a_life_of_tickets(client, users, clock, db) -> dict[str, int]:
    """Tickets that are answered late and on time, breached, moved to another department while breached, resolved,
    reopened, and deleted; some on either side of the month's turn in Amsterdam (UTC still says October)."""
    t1, t2, t3 = build_week(client, users, clock, db)
    clock.set(at(18, 10))
    opinion = "Wat vinden jullie van de nieuwe bomen in het park?"
    moved = post(client, users, "m1", opinion, at(18, 10), channel="facebook")
    doomed = post(client, users, "d1", "Lantaarnpaal kapot bij de school", at(18, 10), channel="instagram")
    clock.set(datetime(2026, 11, 1, 0, 30, tzinfo=AMS))
    post(client, users, "o1", "Hoe vraag ik een rijbewijs aan?", datetime(2026, 10, 31, 23, 30, tzinfo=AMS))
    post(client, users, "n1", "Hoe vraag ik een paspoort aan?", datetime(2026, 11, 1, 0, 30, tzinfo=AMS))
    sweep(db, at(18, 12, 0))  # t1 and the doomed report breach their first response
    sweep(db, at(19, 12, 0))  # so do the moved one (Communicatie, 240 business minutes) and the weekend's
    clock.set(at(19, 12, 10))
    reply(client, users, t1["id"])  # late: the breach is answered now
    # To the KCC, its breach with it; re-targeted from the time it was sent, so running again until the next sweep.
    change(client, users, moved["id"], category="public_space_report")
    sweep(db, at(19, 12, 5))
    clock.set(at(19, 13))
    change(client, users, t2["id"], status="resolved", outcome="answered")
    clock.set(at(19, 14))
    change(client, users, t2["id"], status="reopened")
    change(client, users, t3["id"], status="resolved", outcome="answered")
    with db.begin() as connection:
        connection.execute(text("DELETE FROM tickets WHERE id = :id"), {"id": doomed["id"]})
    return {"t1": t1["id"], "moved": moved["id"]}


def filters(session: Session) -> list[ReportFilter]:
    departments = session.exec(select(Department.id)).all()
    return [
        ReportFilter(),
        *(ReportFilter(department_id=d) for d in departments),
        *(ReportFilter(category=c) for c in Category),
        *(ReportFilter(channel=c) for c in Channel),
        ReportFilter(department_id=departments[0], channel=Channel.x),
    ]


def assert_rollups_match_the_rows(session: Session) -> None:
    for where in filters(session):
        for month in (OCTOBER, NOVEMBER):
            after = rollups.next_month(month)
            in_month = dataclasses.replace(where, start=rollups.month_start(month), end=rollups.month_start(after))
            assert reports._counted_rollups(session, where, (month, after)) == reports._counted_rows(
                session, in_month, facts=True
            ), (where, month)
        assert reports._counted_rollups(session, where, (None, None)) == reports._counted_rows(
            session, where, facts=True
        ), where


def test_the_rollups_follow_every_change_and_fold_in_once(client, users, clock, db, session):
    a_life_of_tickets(client, users, clock, db)
    counted = reports._counted_rows(session, ReportFilter(), facts=True)
    # What the story holds, so the comparison below is not of two empty things.
    assert (counted.volume, counted.reopened, counted.ever_resolved) == (6, 1, 2)
    assert dict(counted.breaches) == {reports.TargetKind.first_response: 4, reports.TargetKind.resolution: 2}
    assert counted.late_unanswered == 3
    assert counted.completed[reports.TargetKind.first_response] == 3

    assert_rollups_match_the_rows(session)  # all still in the change rows
    assert rollups.compact(db)["totals"] > 0
    assert session.exec(select(ReportTotalsChange)).all() == []
    assert_rollups_match_the_rows(session)  # all folded in
    assert rollups.compact(db) == {"totals": 0, "minutes": 0}
    assert_rollups_match_the_rows(session)

    # Changes after a fold are read from the change rows until the next one.
    post(client, users, "late", "Hoe vraag ik een paspoort aan?", datetime(2026, 10, 12, 9, tzinfo=AMS))
    assert_rollups_match_the_rows(session)


def test_one_fold_at_a_time(db):
    with db.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": rollups.COMPACTION_LOCK})
        assert rollups.compact(db) == {}  # another process is folding: this one skips


def test_a_summary_of_whole_months_matches_the_rows(client, users, clock, db, session, monkeypatch):
    a_life_of_tickets(client, users, clock, db)
    rollups.compact(db)
    clock.set(at(20, 9))
    post(client, users, "after", "Hoe vraag ik een rijbewijs aan?", at(20, 9))  # not folded in yet
    clock.set(at(20, 10))
    reply(client, users, post(client, users, "after2", "Hoe vraag ik een paspoort aan?", at(20, 9))["id"])
    periods = [
        ReportFilter(),
        ReportFilter(start=datetime(2026, 9, 20, tzinfo=AMS), end=datetime(2026, 11, 19, 12, tzinfo=AMS)),
        ReportFilter(start=datetime(2026, 11, 1, tzinfo=AMS)),
        ReportFilter(end=datetime(2026, 11, 1, tzinfo=AMS), channel=Channel.x),
    ]
    rows = {}
    with monkeypatch.context() as patched:
        patched.setattr(rollups, "whole_months", lambda start, end: None)
        for where in periods:
            rows[where] = reports.summary(session, where)
    assert rows[periods[0]]["volume"] == 8

    for where in periods:
        assert reports.summary(session, where) == rows[where], where

    # Past the limit, percentiles come from the histograms: within 1%, everything else still exact.
    # Whole months, the edges' facts bucketed on the fly, and change rows not folded in all take part.
    monkeypatch.setattr(reports, "EXACT_LIMIT", 0)
    timed = 0
    for where in periods:
        estimated, exact = reports.summary(session, where), rows[where]
        has_times = any(value is not None for name, value in exact.items() if name.endswith("_minutes"))
        assert estimated["percentiles_exact"] is not has_times, where  # nothing to estimate: nothing estimated
        timed += has_times
        for name, value in exact.items():
            if name.endswith("_minutes") and value is not None:
                assert estimated[name] == pytest.approx(value, rel=rollups.RELATIVE_ERROR, abs=0.1), (where, name)
            elif name != "percentiles_exact":
                assert estimated[name] == value, (where, name)
    assert timed == 3


def test_the_database_and_python_agree_on_buckets(db):
    values = [0.0, 0.05, 0.1, 0.1001, 1.0, 2.5, 59.99, 60.0, 120.0, 1439.5, 100_000.0]
    with db.connect() as connection:
        computed = [connection.execute(text("SELECT report_bucket(:v)"), {"v": v}).scalar_one() for v in values]
    assert computed == [rollups.bucket(v) for v in values]
    for value, number in zip(values, computed, strict=True):
        assert rollups.bucket_value(number) == pytest.approx(value, rel=rollups.RELATIVE_ERROR, abs=0.05)


def test_the_upgrade_counts_what_is_already_there(client, users, clock, db, session, repo_root):
    a_life_of_tickets(client, users, clock, db)
    path = repo_root / "alembic" / "versions" / "20261122_0009_report_rollups.py"
    spec = importlib.util.spec_from_file_location("report_rollups_migration", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    with db.begin() as connection:
        connection.execute(text("DELETE FROM report_totals_changes; DELETE FROM report_minutes_changes"))
    assert reports._counted_rollups(session, ReportFilter(), (None, None)) == reports.Counts()
    with db.begin() as connection:
        for statement in migration.BACKFILL:
            connection.execute(text(statement))
    assert_rollups_match_the_rows(session)
    rollups.compact(db)
    assert_rollups_match_the_rows(session)
