"""Demo data: a realistic fortnight of citizens' messages and the teams' work, for trying the system out."""

import json
import logging
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, select

from models import Channel, Department, MessageCreate, Outcome, Role, Ticket, TicketStatus, User
from service import auth, ingestion, targets, workflow
from service.configuration import load_pipeline_config
from service.db import session_scope
from service.settings import Settings

log = logging.getLogger(__name__)
AMS = ZoneInfo("Europe/Amsterdam")
DEMO_PASSWORD = "demo"
DEMO_USERS = (
    ("anna", Role.agent, ["kcc", "triage"], "Anna de Vries"),
    ("bram", Role.agent, ["kcc"], "Bram Jansen"),
    ("chris", Role.agent, ["communicatie"], "Chris Bakker"),
    ("mila", Role.manager, [], "Mila Visser"),
    ("admin", Role.admin, [], "Functioneel beheer"),
)
STORM_WORDS = ("boom", "tak", "storm", "water", "omgewaaid", "tree", "flood", "wateroverlast", "kolk", "dak")
HOURLY_WEIGHT = (  # when citizens write on a weekday: a morning and an evening peak
    0.2,
    0.1,
    0.05,
    0.05,
    0.05,
    0.2,
    0.5,
    1.2,
    2.0,
    2.6,
    2.8,
    2.6,
    2.2,
    2.2,
    2.3,
    2.2,
    2.0,
    2.2,
    2.6,
    3.0,
    3.1,
    2.6,
    1.6,
    0.7,
)
REPLIES = (
    "Dank je voor je bericht! We hebben het doorgegeven en houden je op de hoogte.",
    "Hoi, dank je wel. Een collega pakt dit op; je hoort vandaag nog van ons.",
    "Bedankt voor je melding. De buitendienst gaat ernaar kijken.",
    "Dank voor je reactie, we hebben het doorgegeven aan de juiste afdeling.",
)


@dataclass(frozen=True)
class Action:
    at: datetime
    order: int
    kind: str  # message | reply | resolve | wait
    payload: object


def seed_demo(
    engine: Engine,
    settings: Settings,
    classifier,
    *,
    texts_file: Path,
    now: datetime,
    seed: int = 2026,
    per_day: int = 90,
) -> dict[str, int]:
    """Users, a closure day and two weeks of messages up to `now`, worked by the demo agents; idempotent."""
    with session_scope(engine) as session:
        if session.exec(select(User).where(User.username == "anna")).first() is not None:
            return {"tickets": 0, "skipped": 1}
        for username, role, departments, full_name in DEMO_USERS:
            auth.create_user(
                session, username, role=role, departments=departments, password=DEMO_PASSWORD, full_name=full_name
            )
        # A municipal closure day in the fortnight (the day after a public holiday is often one).
        closure = (now - timedelta(days=8)).astimezone(AMS).date()
        for department in session.exec(select(Department)).all():
            department.closure_days = sorted({*department.closure_days, closure.isoformat()})
            session.add(department)

    rng = random.Random(seed)
    texts = [json.loads(line)["text"] for line in texts_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    storm_texts = [t for t in texts if any(word in t.lower() for word in STORM_WORDS)] or texts
    start = (now - timedelta(days=14)).astimezone(AMS)
    storm_day = _last_saturday(now.astimezone(AMS).date() - timedelta(days=3))
    actions: list[Action] = []
    number = 0
    for day_offset in range(15):
        day = (start + timedelta(days=day_offset)).date()
        weekend = day.weekday() >= 5
        count = int(per_day * (0.55 if weekend else 1.0) * rng.uniform(0.85, 1.15))
        storm = day == storm_day
        if storm:
            count += per_day  # a storm on Saturday: fallen trees and flooding all evening
        for _ in range(count):
            hour = rng.choices(range(24), weights=HOURLY_WEIGHT)[0]
            if storm and rng.random() < 0.6:
                hour = rng.choice((17, 18, 19, 20, 21, 22))
            sent = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), AMS)
            if sent >= now:
                continue
            number += 1
            text = rng.choice(storm_texts if storm and rng.random() < 0.7 else texts)
            channel = rng.choices(
                [Channel.whatsapp, Channel.x, Channel.facebook, Channel.instagram], weights=[40, 25, 25, 10]
            )[0]
            actions.append(
                Action(
                    sent,
                    number * 10,
                    "message",
                    MessageCreate(
                        channel=channel,
                        external_id=f"demo-{number}",
                        author_handle=f"@inwoner{rng.randrange(1, 4000)}",
                        author_name=None,
                        text=text,
                        sent_at=sent,
                    ),
                )
            )
    actions.sort(key=lambda a: (a.at, a.order))
    return _play(engine, settings, classifier, actions, rng=rng, now=now)


def _last_saturday(before: date) -> date:
    return before - timedelta(days=(before.weekday() - 5) % 7)


def _play(engine, settings, classifier, actions: list[Action], *, rng: random.Random, now: datetime) -> dict[str, int]:
    """Run the fortnight in time order: messages arrive, agents answer in office hours, the sweeper runs."""
    pending = list(actions)
    created = replied = resolved = 0
    last_sweep = None
    with Session(engine, expire_on_commit=False) as session:
        config = load_pipeline_config(session, settings)
        people = {u.username: u for u in session.exec(select(User)).all()}
        slugs = {d.id: d.slug for d in config.departments.values()}
    agents_by_department = {"kcc": ["anna", "bram"], "triage": ["anna"], "communicatie": ["chris"]}
    while pending:
        pending.sort(key=lambda a: (a.at, a.order))
        action = pending.pop(0)
        with session_scope(engine) as session:
            if last_sweep is None or action.at - last_sweep >= timedelta(minutes=10):
                targets.sweep(session, now=action.at, limit=10_000)
                last_sweep = action.at
            if action.kind == "message":
                result = ingestion.ingest(
                    session, action.payload, classifier=classifier, config=config, settings=settings, now=action.at
                )
                if not result.new_ticket:
                    continue
                created += 1
                ticket = result.ticket
                slug = slugs[ticket.department_id]
                if slug == "triage":
                    continue  # left for a person to decide: visible in the triage queue
                calendar = config.calendars[ticket.department_id]
                # Agents answer some time after the team opens; the busier hours take longer.
                delay = timedelta(minutes=rng.lognormvariate(3.6 if slug == "kcc" else 4.3, 0.8))
                answer_at = calendar.add_business_time(action.at, delay.total_seconds() / 60)
                if answer_at < now:
                    agent = rng.choice(agents_by_department[slug])
                    pending.append(Action(answer_at, action.order + 1, "reply", (ticket.id, agent)))
            elif action.kind == "reply":
                ticket_id, agent = action.payload
                ticket = workflow.lock_ticket(session, ticket_id)
                user = people[agent]
                if ticket.status in (TicketStatus.resolved, TicketStatus.closed):
                    continue
                workflow.reply(
                    session, ticket, user, rng.choice(REPLIES), config=config, now=action.at, lease=settings.claim_lease
                )
                replied += 1
                calendar = config.calendars[ticket.department_id]
                finish = calendar.add_business_time(action.at, rng.lognormvariate(5.5, 1.0))
                if finish < now and rng.random() < 0.85:
                    pending.append(Action(finish, action.order + 1, "resolve", (ticket_id, agent)))
            elif action.kind == "resolve":
                ticket_id, agent = action.payload
                ticket = workflow.lock_ticket(session, ticket_id)
                if ticket.status in (TicketStatus.resolved, TicketStatus.closed, TicketStatus.waiting):
                    continue
                outcome = rng.choices([Outcome.answered, Outcome.forwarded, Outcome.duplicate], weights=[60, 35, 5])[0]
                workflow.change_status(
                    session,
                    ticket,
                    people[agent],
                    TicketStatus.resolved,
                    outcome=outcome,
                    config=config,
                    now=action.at,
                    lease=settings.claim_lease,
                )
                resolved += 1
    with session_scope(engine) as session:
        targets.sweep(session, now=now, limit=100_000)
        total = len(session.exec(select(Ticket.id)).all())
    log.info("demo: %d tickets, %d replies, %d resolved", created, replied, resolved)
    return {"tickets": total, "replies": replied, "resolved": resolved}
