"""Ingestion over HTTP through the whole pipeline (classify, route, targets, persist), beside a no-op endpoint.

    .venv/bin/python bench/ingest.py [--quick] [--no-write]

For each set-up (SQLite with one process, PostgreSQL with one and with two uvicorn workers), `webcare serve` runs in
a subprocess with the real trained model and the background jobs off, and three loads are driven from this process
over 127.0.0.1, in this order:

- single messages at the highest rate the set-up reaches (wrk, 16 connections, closed loop), beside the no-op app
  of bench/noop_app.py served the same way: the ratio says how close we are to the framework's own limit;
- batches of 500 messages (two batches in flight), in messages per second;
- single messages at a fixed 200 requests/s for 20 s, open loop: each request has a scheduled moment and its
  latency counts from that moment, so a server that falls behind shows it (no coordinated omission); a request
  not answered 10 s after its moment counts as failed.

CPU time per message (server processes and PostgreSQL backends, from /proc) is given beside the rates.
Everything shares the machine's cores: the server, PostgreSQL, and the load generators (and whatever else runs).
--quick: PostgreSQL with one worker, 2 s open loop with a 3 s deadline, batches of 100 for 1 s.
"""

import argparse
import asyncio
import itertools
import json
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import harness
import httpx2 as httpx
from sqlalchemy import create_engine, text

from models import Role

RATE = 200
BATCH_SIZE = 500
MAX_RATE_CONNECTIONS = 16
TARGET_P99_MS = 25
TARGET_BATCH_PER_SECOND = 3000
TARGET_NOOP_SHARE = 0.5
# The run before any change (RESULTS.md, "Ingestion", 01:18 UTC), for the "baseline" column.
BASELINE: dict[str, dict[str, float]] = {
    "sqlite, 1 worker": {"p99": 21942.7, "share": 0.13},
    "postgresql, 1 worker": {"p99": 20416.9, "share": 0.16, "batch": 52},
    "postgresql, 2 workers": {"p99": 21045.3, "share": 0.03, "batch": 67},
}


@dataclass
class Figures:
    name: str
    workers: int
    latencies_ms: list[float] = field(default_factory=list)
    open_loop_errors: int = 0
    open_loop_sent: int = 0
    max_rate: float = 0
    max_rate_errors: int = 0
    max_rate_cpu_ms: float = 0
    batch_rate: float = 0
    batch_errors: int = 0
    batch_p50_ms: float | None = None
    batch_cpu_ms: float = 0
    stored: int = 0
    accepted: int = 0
    meters: list[harness.CpuMeter] = field(default_factory=list)

    def meter_start(self) -> None:
        for meter in self.meters:
            meter.start()

    def meter_stop(self, messages: int) -> float:
        """CPU milliseconds per message of the server processes and the database backends together."""
        return sum(meter.stop() for meter in self.meters) * 1000 / max(messages, 1)


# Open loop -----------------------------------------------------------------------------------------


async def _open_loop(
    base_url: str, token: str, run: str, *, rate: float, seconds: float, deadline: float, figures: Figures
) -> None:
    texts = harness.sample_texts()
    sent_at = harness.sent_times()
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=512)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=deadline) as client:
        loop = asyncio.get_running_loop()

        async def one(number: int, scheduled: float, record: bool) -> None:
            # Not answered within the deadline (from the scheduled moment) is failed: a channel would have given up.
            body = harness.message(run, number, texts, sent_at)
            try:
                response = await asyncio.wait_for(
                    client.post("/api/v1/messages", json=body), timeout=scheduled + deadline - loop.time()
                )
                ok = response.status_code == 201
            except (httpx.HTTPError, TimeoutError):
                ok = False
            figures.accepted += ok
            if record:
                figures.latencies_ms.append((loop.time() - scheduled) * 1000)
                figures.open_loop_errors += not ok

        # A second of warm-up at the same rate (connections, caches), not counted.
        warmup = int(rate)
        total = warmup + int(rate * seconds)
        start = loop.time() + 0.1
        tasks = []
        for number in range(total):
            scheduled = start + number / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(number, scheduled, number >= warmup)))
        await asyncio.gather(*tasks)
        figures.open_loop_sent = total - warmup


def open_loop(
    server: harness.Server, token: str, *, rate: float, seconds: float, deadline: float, figures: Figures
) -> str:
    """Returns the prefix of the external ids sent."""
    run = f"open-{uuid.uuid4().hex[:8]}"
    asyncio.run(_open_loop(server.base_url, token, run, rate=rate, seconds=seconds, deadline=deadline, figures=figures))
    return run


# Highest rate (wrk) --------------------------------------------------------------------------------

WRK_SCRIPT = """
local parts = {%(parts)s}
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer %(token)s"}
local counter = 0
local next_thread = 0
function setup(thread)
  thread:set("thread_number", next_thread)
  next_thread = next_thread + 1
end
function request()
  counter = counter + 1
  local template = parts[(counter %% #parts) + 1]
  local id = "%(run)s-" .. thread_number .. "-" .. counter
  return wrk.format("POST", "/api/v1/messages", headers, table.concat(template, id))
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK_RESULT %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def _wrk_script(token: str, run: str, workdir: Path) -> Path:
    texts = harness.sample_texts(200)
    sent_at = harness.sent_times()
    templates = []
    for number, body_text in enumerate(texts):
        body = {
            "channel": harness.CHANNELS[number % len(harness.CHANNELS)],
            "external_id": "@@ID@@",
            "author_handle": f"@citizen{number}",
            "text": body_text,
            "sent_at": sent_at[number % 2],
            "conversation_id": "@@ID@@",
        }
        pieces = json.dumps(body, ensure_ascii=True).split("@@ID@@")
        templates.append("{" + ", ".join(f"[==[{piece}]==]" for piece in pieces) + "}")
    path = workdir / f"wrk-{run}.lua"
    path.write_text(WRK_SCRIPT % {"parts": ",\n".join(templates), "token": token, "run": run})
    return path


def highest_rate(
    server: harness.Server, token: str, *, seconds: float, workdir: Path, figures: Figures | None = None
) -> tuple[float, int]:
    """Requests/s and failed requests (non-2xx answers, socket errors) at the highest rate (wrk, closed loop)."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for the highest-rate figure: apt-get install wrk")
    run = f"max-{uuid.uuid4().hex[:8]}"
    script = _wrk_script(token, run, workdir)
    command = ["wrk", "-t1", f"-c{MAX_RATE_CONNECTIONS}", f"-d{seconds:.0f}s", "--timeout", "10s", "-s", str(script)]
    if figures:
        figures.meter_start()
    output = subprocess.run(command + [server.base_url], capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK_RESULT"))
    requests, duration_us, status_errors, socket_errors = (int(value) for value in line.split()[1:])
    if figures:
        figures.max_rate_cpu_ms = figures.meter_stop(requests)
    return requests / (duration_us / 1e6), status_errors + socket_errors


# Batches -------------------------------------------------------------------------------------------


def batches(
    server: harness.Server, token: str, *, seconds: float, in_flight: int, size: int, warm_up: bool, figures: Figures
) -> None:
    texts = harness.sample_texts()
    sent_at = harness.sent_times()
    run = f"batch-{uuid.uuid4().hex[:8]}"
    counter = itertools.count()
    lock = threading.Lock()
    created, errors, durations = [0], [0], []
    ready = threading.Barrier(in_flight + 1, timeout=300)
    window = {"stop": float("inf")}

    def next_batch(prefix: str) -> dict:
        with lock:
            numbers = [next(counter) for _ in range(size)]
        return {"messages": [harness.message(prefix, n, texts, sent_at) for n in numbers]}

    def sender() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=300) as client:
            try:
                if warm_up:
                    # One batch per sender, not counted.
                    client.post("/api/v1/messages/batch", json=next_batch(run + "w"))
            finally:
                ready.wait()
            while time.perf_counter() < window["stop"]:
                body = next_batch(run)
                began = time.perf_counter()
                try:
                    response = client.post("/api/v1/messages/batch", json=body)
                    results = response.json()["results"] if response.status_code == 200 else []
                except httpx.HTTPError:
                    results = []
                durations.append(time.perf_counter() - began)
                ok = sum(1 for r in results if r.get("created"))
                with lock:
                    created[0] += ok
                    errors[0] += size - ok

    threads = [threading.Thread(target=sender) for _ in range(in_flight)]
    for thread in threads:
        thread.start()
    ready.wait()
    began = time.perf_counter()
    window["stop"] = began + seconds
    figures.meter_start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    figures.batch_cpu_ms = figures.meter_stop(created[0])
    figures.batch_rate = created[0] / elapsed
    figures.batch_errors = errors[0]
    figures.batch_p50_ms = harness.percentile([d * 1000 for d in durations], 50) if durations else None


# A run ---------------------------------------------------------------------------------------------


def count_messages(url: str, run: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            query = text("SELECT count(*) FROM messages WHERE external_id LIKE :run")
            return connection.execute(query, {"run": f"{run}-%"}).scalar_one()
    finally:
        engine.dispose()


def measure_setup(backend: str, workers: int, args, workdir: Path) -> Figures:
    figures = Figures(f"{backend}, {workers} worker{'s' if workers > 1 else ''}", workers)
    print(f"\n== {figures.name}", flush=True)
    with harness.database(backend, workdir) as url:
        token = harness.create_user_with_token(url, "bench-feed", role=Role.integration)
        server = harness.webcare_serve(url, workdir, workers=workers)
        # The open loop comes last: a server it overloads keeps working off requests whose clients gave up, so
        # it is then stopped with a short grace instead of waited for.
        server.grace_seconds = 3
        with server:
            figures.meters = [harness.CpuMeter(lambda: harness.descendants(server.process.pid))]
            if backend == "postgresql":
                figures.meters.append(harness.CpuMeter(lambda: harness.postgres_backends(url)))
            figures.max_rate, figures.max_rate_errors = highest_rate(
                server, token, seconds=args.max_seconds, workdir=workdir, figures=figures
            )
            print(
                f"   highest rate: {figures.max_rate:,.0f} requests/s, errors {figures.max_rate_errors}, "
                f"{figures.max_rate_cpu_ms:.1f} CPU ms per message",
                flush=True,
            )
            batches(
                server,
                token,
                seconds=args.batch_seconds,
                in_flight=args.batches_in_flight,
                size=args.batch_size,
                warm_up=not args.quick,
                figures=figures,
            )
            print(
                f"   batches of {args.batch_size}: {figures.batch_rate:,.0f} messages/s, "
                f"errors {figures.batch_errors}, {figures.batch_cpu_ms:.1f} CPU ms per message",
                flush=True,
            )
            run = open_loop(server, token, rate=RATE, seconds=args.seconds, deadline=args.deadline, figures=figures)
            lat = figures.latencies_ms
            print(
                f"   open loop {RATE}/s: p50 {harness.percentile(lat, 50):.1f} ms, "
                f"p99 {harness.percentile(lat, 99):.1f} ms, failed {figures.open_loop_errors}",
                flush=True,
            )
        # Every message answered 201 in the open loop (warm-up included) must have been stored.
        figures.stored = count_messages(url, run)
    return figures


def noop_rate(workers: int, seconds: float, workdir: Path) -> float:
    with harness.noop_serve(workdir, workers=workers) as server:
        rate, errors = highest_rate(server, "none", seconds=seconds, workdir=workdir)
    print(f"   no-op app, {workers} worker(s): {rate:,.0f} requests/s{f', {errors} errors' if errors else ''}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="PostgreSQL with one worker, short phases, batches of 100 (~30 s)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument(
        "--setups", default=None, help="comma-separated backend:workers, default sqlite:1,postgresql:1,postgresql:2"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.deadline, args.max_seconds = 2, 3, 3
        args.batch_seconds, args.batch_size, args.batches_in_flight = 1, 100, 1
    else:
        args.seconds, args.deadline, args.max_seconds = 20, 10, 8
        args.batch_seconds, args.batch_size, args.batches_in_flight = 8, BATCH_SIZE, 2
    setups = args.setups or ("postgresql:1" if args.quick else "sqlite:1,postgresql:1,postgresql:2")
    machine = harness.machine()
    print(machine)
    harness.model_path()
    results: list[Figures] = []
    noop: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="webcare-bench-") as tmp:
        workdir = Path(tmp)
        for setup in setups.split(","):
            backend, workers = setup.split(":")
            workers = int(workers)
            if workers not in noop:
                noop[workers] = noop_rate(workers, args.max_seconds, workdir)
            results.append(measure_setup(backend, workers, args, workdir))
    report = render(results, noop, machine, args)
    print("\n" + report)
    if not args.no_write:
        harness.append_results("Ingestion", report, note=NOTE)
        print(f"appended to {harness.RESULTS}")


NOTE = (
    "Reproduce with `.venv/bin/python bench/ingest.py` (add `--quick` for a 30-second check). "
    "`webcare serve` in a subprocess with the real trained model; load from the same machine over 127.0.0.1 "
    "(asyncio httpx client for the open loop and the batches, wrk for the highest rate). "
    f"All of it ({harness.SHARED_CPUS}) shares the cores, so the figures are a floor, not a ceiling."
)


def render(results: list[Figures], noop: dict[int, float], machine: str, args) -> str:
    lines = [
        f"### Run of {machine.split(' · ')[0]}{' (--quick)' if args.quick else ''}",
        "",
        f"{machine}. {harness.SHARED_CPUS}: every figure below is measured with all of them on these cores. "
        "CPU ms per message: server processes plus PostgreSQL backends (a cost that does not depend on what "
        "else runs on the machine).",
        "",
        f"| set-up | single, {RATE}/s open loop ({args.seconds} s, {args.deadline} s deadline): p50 / p99 / max ms "
        "| failed "
        "| stored / answered 201 | highest rate req/s (16 conns) | CPU ms per msg | no-op req/s | share of no-op "
        f"| batches of {args.batch_size}: msg/s | CPU ms per msg |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in results:
        lat = f.latencies_ms
        lines.append(
            f"| {f.name} | {harness.percentile(lat, 50):.1f} / {harness.percentile(lat, 99):.1f} / {max(lat):.1f} "
            f"| {f.open_loop_errors:,} of {f.open_loop_sent:,} | {f.stored:,} / {f.accepted:,} "
            f"| {f.max_rate:,.0f}{_failed(f.max_rate_errors)} | {f.max_rate_cpu_ms:.1f} "
            f"| {noop[f.workers]:,.0f} | {f.max_rate / noop[f.workers]:.2f} "
            f"| {f.batch_rate:,.0f}{_failed(f.batch_errors)} | {f.batch_cpu_ms:.2f} |"
        )
    lines += ["", "| target | figure | baseline | |", "| --- | --- | --- | --- |"]
    for f in results:
        base = BASELINE.get(f.name, {})
        p99 = harness.percentile(f.latencies_ms, 99)
        share = f.max_rate / noop[f.workers]
        lines.append(
            f"| single p99 < {TARGET_P99_MS} ms at {RATE}/s, {f.name} | {p99:,.1f} ms "
            f"| {_base(base, 'p99', ' ms')} | {harness.verdict(p99 < TARGET_P99_MS and not f.open_loop_errors)} |"
        )
        lines.append(
            f"| single ≥ {TARGET_NOOP_SHARE:.0%} of the no-op rate, {f.name} | {share:.2f} ({f.max_rate:,.0f} of "
            f"{noop[f.workers]:,.0f}/s) | {_base(base, 'share', '')} | {harness.verdict(share >= TARGET_NOOP_SHARE)} |"
        )
        if f.name.startswith("postgresql"):
            lines.append(
                f"| batch ≥ {TARGET_BATCH_PER_SECOND:,} msg/s, {f.name} | {f.batch_rate:,.0f} msg/s "
                f"| {_base(base, 'batch', ' msg/s')} | {harness.verdict(f.batch_rate >= TARGET_BATCH_PER_SECOND)} |"
            )
    return "\n".join(lines) + "\n"


def _failed(count: int) -> str:
    return f" ({count:,} failed)" if count else ""


def _base(base: dict, key: str, unit: str) -> str:
    if key not in base:
        return "–"
    value = base[key]
    return (f"{value:,.0f}" if value >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}") + unit


if __name__ == "__main__":
    main()
