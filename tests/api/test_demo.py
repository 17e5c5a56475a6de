"""The demo fortnight: tickets worked by demo agents, loaded once, and people can log in."""

from datetime import UTC, datetime

from sqlmodel import Session, func, select

from models import ResponseFact, Ticket, User
from service import auth, reports
from service.demo import DEMO_PASSWORD, seed_demo
from service.modelops import EVAL_DATA
from tests.conftest import KeywordClassifier, make_settings

NOW = datetime(2026, 11, 20, 16, 0, tzinfo=UTC)


def test_demo_fortnight_is_loaded_once_with_worked_tickets(db, database_url):
    settings = make_settings(database_url)
    first = seed_demo(db, settings, KeywordClassifier(), texts_file=EVAL_DATA, now=NOW, per_day=12)
    again = seed_demo(db, settings, KeywordClassifier(), texts_file=EVAL_DATA, now=NOW, per_day=12)

    with Session(db) as session:
        tickets = session.exec(select(func.count()).select_from(Ticket)).one()
        facts = session.exec(select(func.count()).select_from(ResponseFact)).one()
        summary = reports.summary(session, reports.ReportFilter())
        assert auth.log_in(session, "anna", DEMO_PASSWORD, now=NOW) is not None
        assert session.exec(select(User.username).order_by(User.username)).all() == [
            "admin",
            "anna",
            "bram",
            "chris",
            "mila",
        ]
    assert first["tickets"] == tickets > 100
    assert again == {"tickets": 0, "skipped": 1}
    assert facts >= first["replies"] > 0
    assert summary["volume"] == tickets and 0 < summary["on_time_share"] <= 1
