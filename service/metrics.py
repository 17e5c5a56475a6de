"""Prometheus metrics at /metrics: traffic, tickets, response times, backlog and breaches."""

from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from models import (
    OPEN_STATUSES,
    Department,
    ReportMinutesChange,
    ReportTotalsChange,
    SlaState,
    SlaTarget,
    Ticket,
    utcnow,
)

MINUTE_BUCKETS = (5, 15, 30, 60, 120, 240, 480, 960, 1440, 2880)


class Metrics:
    """One registry per app, so several apps (tests, workers) never share or clash."""

    def __init__(self, engine_getter):
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "webcare_request_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.tickets_created = Counter(
            "webcare_tickets_created",
            "Tickets created from citizens' messages",
            ["category", "department", "channel"],
            registry=self.registry,
        )
        self.first_response = Histogram(
            "webcare_first_response_business_minutes",
            "Time to first response, in the owning department's business minutes",
            ["department"],
            buckets=MINUTE_BUCKETS,
            registry=self.registry,
        )
        self.confidence = Histogram(
            "webcare_classifier_confidence",
            "Confidence of the classifier's top category",
            ["category"],
            buckets=(0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
            registry=self.registry,
        )
        # Backlog and breaches are read from the database at scrape time: right across any number of processes.
        self.registry.register(_DatabaseCollector(engine_getter))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _DatabaseCollector:
    def __init__(self, engine_getter):
        self.engine_getter = engine_getter

    def collect(self):
        engine: Engine | None = self.engine_getter()
        backlog = GaugeMetricFamily(
            "webcare_backlog_tickets", "Open tickets by department and SLA state", labels=["department", "sla_state"]
        )
        breaches = GaugeMetricFamily(
            "webcare_sla_breaches_24h", "Targets breached in the last 24 hours", labels=["department", "target"]
        )
        pending = GaugeMetricFamily(
            "webcare_report_changes_pending",
            "Report roll-up changes the worker has not folded in yet (PostgreSQL; grows while no worker runs)",
        )
        if engine is not None:
            with Session(engine) as session:
                slugs = dict(session.exec(select(Department.id, Department.slug)).all())
                for department_id, state, count in session.exec(
                    select(Ticket.department_id, Ticket.sla_state, func.count())
                    .where(col(Ticket.status).in_(OPEN_STATUSES))
                    .group_by(Ticket.department_id, Ticket.sla_state)
                ):
                    backlog.add_metric([slugs.get(department_id, "?"), str(state)], count)
                since = utcnow() - timedelta(hours=24)
                for department_id, kind, count in session.exec(
                    select(Ticket.department_id, SlaTarget.kind, func.count())
                    .join(Ticket, Ticket.id == SlaTarget.ticket_id)
                    .where(SlaTarget.state == SlaState.breached, SlaTarget.due_at >= since)
                    .group_by(Ticket.department_id, SlaTarget.kind)
                ):
                    breaches.add_metric([slugs.get(department_id, "?"), str(kind)], count)
                pending.add_metric(
                    [],
                    sum(
                        session.exec(select(func.count()).select_from(table)).one()
                        for table in (ReportTotalsChange, ReportMinutesChange)
                    ),
                )
        yield backlog
        yield breaches
        yield pending
