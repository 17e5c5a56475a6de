"""Each ticket's response targets in the database: started, paused, resumed, completed, and swept for breaches."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from models import (
    ResponseFact,
    SlaState,
    SlaTarget,
    TargetKind,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from service import sla
from service.configuration import PipelineConfig
from service.tickets import record

log = logging.getLogger(__name__)
RESPONSES = (TargetKind.first_response, TargetKind.next_response)


def _policy(config: PipelineConfig, ticket: Ticket) -> sla.Policy:
    policy = sla.choose_policy(
        config.policies, category=ticket.category, priority=ticket.priority, department_id=ticket.department_id
    )
    if policy is None:
        raise RuntimeError("No SLA policy matches; configure a catch-all policy (see fixtures/config/default.json).")
    return policy


def _open_targets(session: Session, ticket: Ticket) -> list[SlaTarget]:
    return list(
        session.exec(
            select(SlaTarget).where(SlaTarget.ticket_id == ticket.id, col(SlaTarget.completed_at).is_(None))
        ).all()
    )


def _new_target(
    ticket: Ticket, kind: TargetKind, policy: sla.Policy, config: PipelineConfig, start: datetime
) -> SlaTarget:
    clock = sla.clock_for(policy, config.calendars[ticket.department_id])
    minutes = policy.minutes(kind)
    deadline = sla.deadline(start, minutes, clock, at_risk_share=config.at_risk_share)
    return SlaTarget(
        ticket_id=ticket.id,
        kind=kind,
        clock=policy.clock,
        target_minutes=minutes,
        started_at=start,
        due_at=deadline.due_at,
        at_risk_at=deadline.at_risk_at,
    )


@dataclass(frozen=True)
class Cycle:
    """A ticket's first-response and resolution targets, planned under one policy."""

    policy: sla.Policy
    first_response: SlaTarget
    resolution: SlaTarget


def plan_cycle(ticket: Ticket, config: PipelineConfig, *, start: datetime) -> Cycle:
    """The first-response and resolution targets counted from `start`, mirrored onto the ticket but not yet added.

    A new ticket is planned before its INSERT, so that the row carries its policy and deadlines from the start and
    nothing is read back; the targets get the ticket's id once it has one (add_cycle)."""
    policy = _policy(config, ticket)
    ticket.sla_policy_id = policy.id
    cycle = Cycle(
        policy,
        _new_target(ticket, TargetKind.first_response, policy, config, start),
        _new_target(ticket, TargetKind.resolution, policy, config, start),
    )
    _mirror(ticket, [cycle.first_response, cycle.resolution])
    return cycle


def add_cycle(session: Session, ticket: Ticket, cycle: Cycle) -> None:
    """Store the planned targets of a ticket that now has its id, with the timeline's "targets_set"."""
    for target in (cycle.first_response, cycle.resolution):
        target.ticket_id = ticket.id
        session.add(target)
    record(
        session,
        ticket,
        "targets_set",
        {
            "policy": cycle.policy.name,
            "clock": cycle.policy.clock,
            "from": cycle.first_response.started_at.isoformat(),
            "first_response_due": cycle.first_response.due_at.isoformat(),
            "resolution_due": cycle.resolution.due_at.isoformat(),
        },
    )


def start_cycle(session: Session, ticket: Ticket, config: PipelineConfig, *, start: datetime) -> None:
    """First-response and resolution targets counted from `start`, for a ticket that already exists (reopened)."""
    for leftover in _open_targets(session, ticket):
        leftover.completed_at = start
        session.add(leftover)
    add_cycle(session, ticket, plan_cycle(ticket, config, start=start))
    refresh(session, ticket)


def start_next_response(session: Session, ticket: Ticket, config: PipelineConfig, *, start: datetime) -> None:
    """The citizen wrote again after our answer: a next-response target, unless one is already running."""
    if ticket.first_responded_at is None:
        return  # still waiting for the first answer: that target covers this message too
    if any(t.kind in RESPONSES for t in _open_targets(session, ticket)):
        return
    target = _new_target(ticket, TargetKind.next_response, _policy(config, ticket), config, start)
    session.add(target)
    session.flush()
    refresh(session, ticket)
    record(session, ticket, "targets_set", {"next_response_due": target.due_at.isoformat(), "from": start.isoformat()})


def retarget(session: Session, ticket: Ticket, config: PipelineConfig) -> None:
    """After a change of category, priority or department: open targets recounted under the new policy."""
    policy = _policy(config, ticket)
    ticket.sla_policy_id = policy.id
    changed = {}
    for target in _open_targets(session, ticket):
        clock = sla.clock_for(policy, config.calendars[ticket.department_id])
        deadline = sla.deadline(
            target.started_at, policy.minutes(target.kind), clock, at_risk_share=config.at_risk_share
        )
        target.clock, target.target_minutes = policy.clock, policy.minutes(target.kind)
        target.due_at, target.at_risk_at = deadline.due_at, deadline.at_risk_at
        # The sweeper looks again within a minute and records any new crossing under the new deadline.
        target.state = SlaState.paused if target.paused_at is not None else SlaState.running
        changed[f"{target.kind}_due"] = deadline.due_at.isoformat()
        session.add(target)
    session.flush()
    refresh(session, ticket)
    record(session, ticket, "targets_set", {"policy": policy.name, "clock": policy.clock, **changed})


def complete_responses(
    session: Session, ticket: Ticket, config: PipelineConfig, *, at: datetime, agent_id: int | None
) -> list[ResponseFact]:
    """An answer to the citizen completes the open first or next response target; returns the facts."""
    facts = [
        _complete(session, ticket, target, config, at=at, agent_id=agent_id, fact=True)
        for target in _open_targets(session, ticket)
        if target.kind in RESPONSES
    ]
    refresh(session, ticket)
    return facts


def complete_resolution(
    session: Session, ticket: Ticket, config: PipelineConfig, *, at: datetime, agent_id: int | None
) -> None:
    """Resolving completes the resolution target; response targets left open close without a response fact."""
    for target in _open_targets(session, ticket):
        _complete(session, ticket, target, config, at=at, agent_id=agent_id, fact=target.kind == TargetKind.resolution)
    refresh(session, ticket)


def pause(session: Session, ticket: Ticket, *, at: datetime) -> None:
    for target in _open_targets(session, ticket):
        if target.kind == TargetKind.resolution and target.paused_at is None:
            target.paused_at = at
            if target.state != SlaState.breached:
                target.state = SlaState.paused
            session.add(target)
    refresh(session, ticket)


def resume(session: Session, ticket: Ticket, config: PipelineConfig, *, at: datetime) -> None:
    for target in _open_targets(session, ticket):
        if target.paused_at is None:
            continue
        clock = sla.clock_for(_policy(config, ticket), config.calendars[ticket.department_id])
        deadline = sla.resume(
            target.due_at,
            target.paused_at,
            at,
            clock,
            target_minutes=target.target_minutes,
            at_risk_share=config.at_risk_share,
        )
        target.due_at, target.at_risk_at, target.paused_at = deadline.due_at, deadline.at_risk_at, None
        if target.state == SlaState.paused:
            target.state = sla.state_at(
                due_at=target.due_at, at_risk_at=target.at_risk_at, now=at, completed_at=None, paused=False
            )
        session.add(target)
        record(session, ticket, "sla_resumed", {"target": target.kind, "due_at": target.due_at.isoformat()}, at=at)
    refresh(session, ticket)


def _complete(
    session: Session,
    ticket: Ticket,
    target: SlaTarget,
    config: PipelineConfig,
    *,
    at: datetime,
    agent_id: int | None,
    fact: bool,
) -> ResponseFact | None:
    target.completed_at = at
    target.paused_at = None
    target.state = sla.state_at(
        due_at=target.due_at, at_risk_at=target.at_risk_at, now=at, completed_at=at, paused=False
    )
    session.add(target)
    if not fact:
        return None
    pauses = (
        sla.paused_spans(_status_changes(session, ticket), until=at) if target.kind == TargetKind.resolution else []
    )
    calendar_minutes, business_minutes = sla.minutes_taken(
        target.started_at, at, config.calendars[ticket.department_id], pauses
    )
    response = ResponseFact(
        ticket_id=ticket.id,
        target_id=target.id,
        kind=target.kind,
        started_at=target.started_at,
        completed_at=at,
        calendar_minutes=round(calendar_minutes, 3),
        business_minutes=round(business_minutes, 3),
        within_target=at <= target.due_at,
        department_id=ticket.department_id,
        category=ticket.category,
        channel=ticket.channel,
        priority=ticket.priority,
        agent_id=agent_id,
    )
    session.add(response)
    return response


def _status_changes(session: Session, ticket: Ticket) -> list[tuple[datetime, str, str]]:
    events = session.exec(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "status_changed")
    ).all()
    return [(e.at, e.data.get("from"), e.data.get("to")) for e in events]


def refresh(session: Session, ticket: Ticket) -> None:
    """Mirror the targets of the current cycle onto the ticket: deadlines, next_due and the state shown."""
    session.flush()
    _mirror(
        ticket,
        session.exec(
            select(SlaTarget).where(SlaTarget.ticket_id == ticket.id, SlaTarget.started_at >= ticket.opened_at)
        ).all(),
    )
    session.add(ticket)


def _mirror(ticket: Ticket, targets: Iterable[SlaTarget]) -> None:
    view = sla.ticket_view(
        (
            sla.TargetView(t.kind, t.state, t.due_at, t.started_at, t.completed_at is not None, t.paused_at is not None)
            for t in targets
        ),
        status=ticket.status,
    )
    ticket.first_response_due = view.first_response_due
    ticket.next_response_due = view.next_response_due
    ticket.resolution_due = view.resolution_due
    ticket.next_due = view.next_due
    ticket.sla_state = view.state


def sweep(session: Session, *, now: datetime, limit: int = 500) -> dict[str, int]:
    """Move running targets into at risk or breached, with one timeline event each; safe for several workers."""
    due = session.exec(
        select(SlaTarget)
        .where(
            col(SlaTarget.completed_at).is_(None),
            or_(
                and_(
                    SlaTarget.state == SlaState.running, col(SlaTarget.paused_at).is_(None), SlaTarget.at_risk_at <= now
                ),
                and_(
                    col(SlaTarget.state).in_((SlaState.running, SlaState.at_risk)),
                    SlaTarget.due_at <= now,
                    col(SlaTarget.paused_at).is_(None),
                ),
            ),
        )
        .order_by(col(SlaTarget.due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    counts = {"at_risk": 0, "breached": 0}
    for target in due:
        state = SlaState.breached if target.due_at <= now else SlaState.at_risk
        target.state = state
        session.add(target)
        ticket = session.get(Ticket, target.ticket_id)
        record(
            session,
            ticket,
            f"sla_{state}",
            {"target": target.kind, "due_at": target.due_at.isoformat()},
            at=now,
        )
        if ticket.status not in (TicketStatus.resolved, TicketStatus.closed):
            refresh(session, ticket)
        counts[str(state)] += 1
    if due:
        log.info("sla sweep: %(at_risk)d at risk, %(breached)d breached", counts)
    return counts
