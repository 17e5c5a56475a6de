"""Background work: the SLA sweeper (and, later, deliveries), run by `webcare worker` or inside `webcare serve`."""

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from models import utcnow
from service import targets
from service.db import create_db_engine, session_scope
from service.settings import Settings

log = logging.getLogger(__name__)
BATCH = 500


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


def run_jobs(engine: Engine, *, now: Callable[[], datetime] = utcnow) -> None:
    try:
        sweep_once(engine, now=now())
    except OperationalError as exc:
        # The database is briefly away (restart, failover): try again next round, do not die.
        log.warning("worker: database unavailable, retrying next round: %s", exc.orig)


async def background_loop(engine: Engine, settings: Settings, stop: asyncio.Event) -> None:
    """The in-process worker of `webcare serve` (the embedded single-machine setup)."""
    while not stop.is_set():
        await asyncio.to_thread(run_jobs, engine)
        try:
            await asyncio.wait_for(stop.wait(), timeout=settings.sweep_interval_seconds)
        except TimeoutError:
            pass


def run_worker(settings: Settings) -> None:
    """`webcare worker`: runs until SIGTERM or SIGINT, finishing the round it is in."""
    engine = create_db_engine(settings)
    stop = threading.Event()

    def request_stop(signum, _frame):
        log.info("worker: %s received, finishing the current round", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("worker started (every %.0f s)", settings.sweep_interval_seconds)
    while not stop.is_set():
        run_jobs(engine)
        stop.wait(settings.sweep_interval_seconds)
    engine.dispose()
    log.info("worker stopped")
