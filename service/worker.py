"""Background work: deliveries, the SLA sweeper, the webhook inbox sweep and the report roll-ups, for `webcare worker`
and `serve`."""

import asyncio
import itertools
import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from classifier import ModelError, load_model
from models import utcnow
from service import delivery, inbox, retention, rollups, targets
from service.db import create_db_engine, session_scope
from service.ingestion import Classifies
from service.settings import Settings

log = logging.getLogger(__name__)
BATCH = 500
# When this process last ran the retention job, per database (monotonic seconds): rounds come every few
# seconds, retention is needed about once an hour.
_retention_runs: dict[str, float] = {}


def sweep_once(engine: Engine, *, now: datetime) -> dict[str, int]:
    """Sweep until nothing is left to mark, one committed batch at a time."""
    total = {"at_risk": 0, "breached": 0}
    while True:
        with session_scope(engine) as session:
            counts = targets.sweep(session, now=now, limit=BATCH)
        for key, value in counts.items():
            total[key] += value
        if sum(counts.values()) < BATCH:
            return total


def run_jobs(
    engine: Engine,
    settings: Settings,
    *,
    now: Callable[[], datetime] = utcnow,
    classifier: Callable[[], Classifies] | None = None,
    sweep: bool = True,
) -> None:
    """One round: send the deliveries that are due; with sweep, also the SLA and webhook inbox sweeps,
    the report roll-ups and retention.

    Retention runs at most once per retention_interval_seconds in this process.
    """
    _guarded("deliveries", lambda: delivery.run_deliveries(engine, settings, now=now))
    if not sweep:
        return
    _guarded("the SLA sweep", lambda: sweep_once(engine, now=now()))
    _guarded("the report roll-ups", lambda: rollups.compact(engine))
    if classifier is not None:
        _guarded(
            "the webhook inbox",
            lambda: inbox.process_pending(engine, classifier=classifier, settings=settings, now=now()),
        )
    if _retention_due(engine, settings):
        _guarded("retention", lambda: retention.run_retention(engine, settings, now=now()))


def _retention_due(engine: Engine, settings: Settings) -> bool:
    key = engine.url.render_as_string(hide_password=True)
    last = _retention_runs.get(key)
    if last is not None and time.monotonic() - last < settings.retention_interval_seconds:
        return False
    # Marked before it runs: a job that fails is tried again after the interval, not every round.
    _retention_runs[key] = time.monotonic()
    return True


def _guarded(what: str, job: Callable[[], object]) -> None:
    try:
        job()
    except OperationalError as exc:
        # The database is briefly away (restart, failover): try again next round, do not die.
        log.warning("worker: database unavailable during %s, retrying next round: %s", what, exc.orig)
    except ModelError as exc:
        log.error("worker: no classifier for %s: %s", what, exc)


def poll_seconds(settings: Settings) -> float:
    return min(settings.delivery_poll_seconds, settings.sweep_interval_seconds)


def rounds_per_sweep(settings: Settings) -> int:
    """Deliveries are polled often (a report should reach the intake within a minute); the sweeps less often."""
    return max(1, round(settings.sweep_interval_seconds / poll_seconds(settings)))


def _one_round(engine: Engine, settings: Settings, number: int, classifier: Callable[[], Classifies] | None) -> None:
    try:
        run_jobs(engine, settings, classifier=classifier, sweep=number % rounds_per_sweep(settings) == 0)
    except Exception:
        # A bug in one round must not stop every later delivery and sweep.
        log.exception("worker: the round failed; trying again next round")


async def background_loop(
    engine: Engine,
    settings: Settings,
    stop: asyncio.Event,
    classifier: Callable[[], Classifies] | None = None,
) -> None:
    """The in-process worker of `webcare serve` (the embedded single-machine setup)."""
    for number in itertools.count():
        if stop.is_set():
            return
        await asyncio.to_thread(_one_round, engine, settings, number, classifier)
        try:
            await asyncio.wait_for(stop.wait(), timeout=poll_seconds(settings))
        except TimeoutError:
            pass


def run_worker(settings: Settings) -> None:
    """`webcare worker`: runs until SIGTERM or SIGINT, finishing the round it is in."""
    engine = create_db_engine(settings)
    stop = threading.Event()

    def request_stop(signum, _frame):
        log.info("worker: %s received, finishing the current round", signal.Signals(signum).name)
        stop.set()

    def load_classifier() -> Classifies:
        # Loaded only when the inbox sweep has work: without a trained model, deliveries still go out.
        return load_model(settings.model_path)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info(
        "worker started (deliveries every %g s, sweeps every %g s)",
        poll_seconds(settings),
        settings.sweep_interval_seconds,
    )
    for number in itertools.count():
        if stop.is_set():
            break
        _one_round(engine, settings, number, load_classifier)
        stop.wait(poll_seconds(settings))
    engine.dispose()
    log.info("worker stopped")
