"""The delivery worker: claim due outbox rows, send each outside any transaction, record what happened."""

import logging
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx2 as httpx
from sqlalchemy import Engine, and_, or_
from sqlmodel import Session, col, select

from models import Channel, Delivery, DeliveryStatus, Direction, Message, Ticket, User, utcnow
from service.db import session_scope
from service.errors import Conflict, NotFound
from service.senders import Result, send
from service.settings import Settings
from service.tickets import record

__all__ = ["Result", "backoff", "claim_due", "record_result", "retry", "run_deliveries", "send"]

log = logging.getLogger(__name__)

# Longer than a batch takes to send (BATCH requests of at most a target's timeout each): a live worker keeps
# its claim, and a dead one's deliveries go to another worker after this.
LEASE = timedelta(minutes=5)
BATCH = 10
ERROR_LENGTH = 500
MESSAGE_KINDS = ("reply", "acknowledgement")
# WhatsApp's receipts only move forward; a late "sent" never undoes "read".
RECEIPT_ORDER = {"sent": 1, "delivered": 2, "read": 3}
_rng = random.Random()


def backoff(attempt: int, rng: random.Random, *, base: float = 30.0, cap: float = 3600.0) -> timedelta:
    """Full jitter: uniformly between 0 and min(cap, base * 2**(attempt - 1)) seconds.

    The randomness spreads the retries of many deliveries that failed together (a receiver that was down),
    so they do not all come back at the same moment.
    """
    exponent = min(max(attempt - 1, 0), 32)  # past 2**32 the cap has long won; keeps the float finite
    return timedelta(seconds=rng.uniform(0, min(cap, base * 2**exponent)))


def claim_due(session: Session, *, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
    """Take up to `limit` due deliveries for this worker (pending, or sending under a lapsed lease).

    SKIP LOCKED lets workers claim side by side without waiting for or taking each other's rows; the caller
    commits before sending, so no HTTP call ever runs inside a database transaction.
    """
    due = or_(
        Delivery.status == DeliveryStatus.pending,
        and_(Delivery.status == DeliveryStatus.sending, col(Delivery.locked_until) < now),
    )
    claimed = session.exec(
        select(Delivery)
        .where(due, Delivery.next_attempt_at <= now)
        .order_by(col(Delivery.next_attempt_at), col(Delivery.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for delivery in claimed:
        if delivery.status == DeliveryStatus.sending:
            log.warning("delivery %s: the worker sending it stopped; sending it again", delivery.id)
        delivery.status = DeliveryStatus.sending
        delivery.locked_until = now + lease
        if delivery.kind in MESSAGE_KINDS and "reply_to" not in delivery.payload:
            delivery.payload = {**delivery.payload, **_reply_context(session, delivery)}
        session.add(delivery)
    session.flush()
    return list(claimed)


def _reply_context(session: Session, delivery: Delivery) -> dict[str, Any]:
    """What a reply answers: the citizen's latest message, publicly (comment, tweet) or privately (DM)."""
    if delivery.ticket_id is None:
        return {"reply_to": None}
    last = session.exec(
        select(Message)
        .where(Message.ticket_id == delivery.ticket_id, Message.direction == Direction.inbound)
        .order_by(col(Message.sent_at).desc(), col(Message.id).desc())
    ).first()
    if last is None:
        return {"reply_to": None}
    if last.channel in (Channel.facebook, Channel.instagram):
        # The adapters give a direct message its sender as conversation; a comment has the post.
        private = last.conversation_id == last.author_handle
    elif last.channel == Channel.x:
        # X direct messages have no permalink; tweets always do.
        private = last.permalink is None and last.conversation_id is not None
    else:
        private = last.channel == Channel.whatsapp
    return {"reply_to": last.external_id, "private": private, "recipient": last.conversation_id if private else None}


def record_result(
    session: Session,
    delivery_id: int,
    result: Result,
    *,
    now: datetime,
    settings: Settings,
    rng: random.Random | None = None,
    claimed_until: datetime | None = None,
) -> DeliveryStatus | None:
    """Store one attempt's outcome; returns the new status, or None when this worker no longer holds the delivery.

    claimed_until is the lease the worker got from claim_due: a worker that outlived its lease and was taken
    over must not overwrite what the other worker recorded.
    """
    delivery = session.exec(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).first()
    if delivery is None or delivery.status != DeliveryStatus.sending:
        log.info("delivery %s: result ignored, it is no longer being sent", delivery_id)
        return None
    if claimed_until is not None and delivery.locked_until != claimed_until:
        log.info("delivery %s: result ignored, another worker took it over", delivery_id)
        return None
    ticket = session.get(Ticket, delivery.ticket_id) if delivery.ticket_id is not None else None
    about = {"delivery_id": delivery.id, "kind": delivery.kind, "target": delivery.target}
    delivery.attempts += 1
    delivery.locked_until = None
    if result.delivered:
        delivery.status = DeliveryStatus.delivered
        delivery.remote_id = result.remote_id
        delivery.delivered_at = now
        delivery.last_error = None
        if ticket is not None:
            record(
                session,
                ticket,
                "delivered",
                {**about, "remote_id": result.remote_id, "attempts": delivery.attempts},
                at=now,
            )
    else:
        delivery.last_error = (result.error or "failed")[:ERROR_LENGTH]
        if result.permanent or delivery.attempts >= settings.delivery_max_attempts:
            delivery.status = DeliveryStatus.dead
            log.warning(
                "delivery %s to %s is dead after %d attempt(s)", delivery.id, delivery.target, delivery.attempts
            )
            if ticket is not None:
                record(
                    session,
                    ticket,
                    "delivery_failed",
                    {**about, "attempts": delivery.attempts, "error": delivery.last_error},
                    at=now,
                )
        else:
            wait = backoff(
                delivery.attempts,
                rng or _rng,
                base=settings.delivery_backoff_base_seconds,
                cap=settings.delivery_backoff_cap_seconds,
            )
            delivery.status = DeliveryStatus.pending
            delivery.next_attempt_at = now + (result.retry_after if result.retry_after is not None else wait)
    session.add(delivery)
    session.flush()
    return delivery.status


def run_deliveries(
    engine: Engine,
    settings: Settings,
    *,
    now: Callable[[], datetime] = utcnow,
    rng: random.Random | None = None,
    limit: int = BATCH,
    lease: timedelta = LEASE,
) -> dict[str, int]:
    """Claim, send and record, batch after batch, until nothing is due; returns counts by outcome.

    Outcomes: delivered, pending (failed, will be retried), dead, and taken_over (another worker holds it now).
    """
    counts: Counter[str] = Counter()
    client: httpx.Client | None = None
    try:
        while True:
            with session_scope(engine) as session:
                claimed = claim_due(session, now=now(), limit=limit, lease=lease)
            if not claimed:
                return dict(counts)
            # Made only when there is something to send: most polls find nothing.
            client = client or httpx.Client()
            for delivery in claimed:
                result = send(delivery, settings, client=client)
                with session_scope(engine) as session:
                    status = record_result(
                        session,
                        delivery.id,
                        result,
                        now=now(),
                        settings=settings,
                        rng=rng,
                        claimed_until=delivery.locked_until,
                    )
                counts[str(status) if status is not None else "taken_over"] += 1
    finally:
        if client is not None:
            client.close()


def retry(session: Session, delivery_id: int, user: User, *, now: datetime) -> Delivery:
    """A dead or waiting delivery is due again now, with a fresh set of attempts; its history stays in view."""
    delivery = session.exec(select(Delivery).where(Delivery.id == delivery_id).with_for_update()).first()
    if delivery is None:
        raise NotFound(f"delivery {delivery_id} does not exist")
    if delivery.status not in (DeliveryStatus.dead, DeliveryStatus.pending):
        raise Conflict(f"delivery {delivery_id} is {delivery.status}: only dead or pending deliveries can be retried")
    history = f"retried by {user.username} after {delivery.attempts} attempt(s)"
    if delivery.last_error:
        history += f"; last error: {delivery.last_error}"
    if delivery.ticket_id is not None:
        record(
            session,
            session.get(Ticket, delivery.ticket_id),
            "delivery_retried",
            {
                "delivery_id": delivery.id,
                "kind": delivery.kind,
                "target": delivery.target,
                "attempts": delivery.attempts,
                "last_error": delivery.last_error,
            },
            actor=user,
            at=now,
        )
    delivery.status = DeliveryStatus.pending
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.locked_until = None
    delivery.last_error = history[:ERROR_LENGTH]
    session.add(delivery)
    session.flush()
    return delivery


def apply_whatsapp_receipts(session: Session, statuses: list[dict[str, Any]], *, now: datetime) -> int:
    """WhatsApp's sent/delivered/read/failed receipts on the replies they are about; returns how many matched."""
    matched = 0
    for receipt in statuses:
        delivery = session.exec(
            select(Delivery).where(Delivery.target == Channel.whatsapp, Delivery.remote_id == receipt["id"])
        ).first()
        if delivery is None:
            continue
        matched += 1
        if receipt["status"] == "failed":
            if delivery.status == DeliveryStatus.dead:
                continue
            delivery.status = DeliveryStatus.dead
            delivery.last_error = f"WhatsApp did not deliver it: {_whatsapp_error(receipt['errors'])}"[:ERROR_LENGTH]
            if delivery.ticket_id is not None:
                record(
                    session,
                    session.get(Ticket, delivery.ticket_id),
                    "delivery_failed",
                    {
                        "delivery_id": delivery.id,
                        "kind": delivery.kind,
                        "target": delivery.target,
                        "attempts": delivery.attempts,
                        "error": delivery.last_error,
                    },
                    at=now,
                )
        elif RECEIPT_ORDER.get(receipt["status"], 0) > RECEIPT_ORDER.get(delivery.payload.get("receipt"), 0):
            delivery.payload = {
                **delivery.payload,
                "receipt": receipt["status"],
                "receipt_at": receipt["timestamp"].isoformat(),
            }
        session.add(delivery)
    session.flush()
    return matched


def _whatsapp_error(errors: list[Any]) -> str:
    parts = []
    for error in errors:
        if isinstance(error, dict):
            details = (error.get("error_data") or {}).get("details")
            parts.append(" ".join(str(p) for p in (error.get("code"), error.get("title"), details) if p))
    return "; ".join(parts) or "no reason given"
