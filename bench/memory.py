"""Resident memory of a serving process with the model loaded: idle, and after 1,000 requests.

    .venv/bin/python bench/memory.py [--quick] [--no-write]

`webcare serve` (one process, PostgreSQL, the in-process background worker on as by default) in a subprocess;
VmRSS (resident now) and VmHWM (the most it was ever resident) from /proc/<pid>/status once it is ready, and again
after 1,000 messages through POST /api/v1/messages (8 in flight) and 1,000 reads of the queue. A `webcare worker`
process is measured beside it. Everything shares the machine's cores; memory does not depend on that.
"""

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import harness
import httpx2 as httpx

from models import Role

REQUESTS = 1000
TARGET_MB = 300
MIB_MB = 1.048576
# The run before any change (RESULTS.md, "Memory", 01:30 UTC), MiB, for the "baseline" column.
BASELINE: dict[str, float] = {"after": 333, "peak": 337}


def memory(pid: int) -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon and RssFile in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            found[key] = int(value.split()[0]) / 1024
    return found


async def _traffic(server: harness.Server, ingest_token: str, agent_token: str, count: int) -> int:
    texts = harness.sample_texts()
    sent_at = harness.sent_times()
    run = f"mem-{uuid.uuid4().hex[:8]}"
    failed = 0
    semaphore = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:

        async def one(number: int) -> None:
            nonlocal failed
            async with semaphore:
                body = harness.message(run, number, texts, sent_at)
                headers = {"Authorization": f"Bearer {ingest_token}"}
                response = await client.post("/api/v1/messages", json=body, headers=headers)
                failed += response.status_code != 201
                headers = {"Authorization": f"Bearer {agent_token}"}
                response = await client.get("/api/v1/queue/kcc", headers=headers)
                failed += response.status_code != 200

        await asyncio.gather(*(one(number) for number in range(count)))
    return failed


def measure(requests: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="webcare-bench-") as tmp, harness.database("postgresql", Path(tmp)) as url:
        workdir = Path(tmp)
        ingest_token = harness.create_user_with_token(url, "bench-feed", role=Role.integration)
        agent_token = harness.create_user_with_token(url, "bench-agent", role=Role.agent, departments=["kcc"])
        with harness.webcare_serve(url, workdir, WEBCARE_RUN_WORKER_IN_PROCESS="true") as server:
            pid = server.process.pid
            time.sleep(2)
            idle = memory(pid)
            print(f"serving process idle: {_line(idle)}", flush=True)
            began = time.perf_counter()
            failed = asyncio.run(_traffic(server, ingest_token, agent_token, requests))
            print(f"{requests:,} messages and {requests:,} queue reads in {time.perf_counter() - began:.0f} s")
            busy = memory(pid)
            print(f"serving process after: {_line(busy)}", flush=True)
        env = harness.server_env(url, WEBCARE_SWEEP_INTERVAL_SECONDS="1")
        worker = subprocess.Popen(
            [sys.executable, "-m", "service", "worker"],
            env=env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(6)
            worker_memory = memory(worker.pid)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        print(f"webcare worker after a few rounds: {_line(worker_memory)}")
    return {"idle": idle, "busy": busy, "worker": worker_memory, "failed": failed}


def _line(figures: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:,.0f} MiB" for key, value in figures.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 requests instead of 1,000")
    parser.add_argument("--no-write", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    requests = 200 if args.quick else REQUESTS
    machine = harness.machine()
    print(machine)
    harness.model_path()
    figures = measure(requests)
    report = render(machine, args, requests, figures)
    print("\n" + report)
    if not args.no_write:
        harness.append_results("Memory", report, note=NOTE)
        print(f"appended to {harness.RESULTS}")


NOTE = (
    "Reproduce with `.venv/bin/python bench/memory.py` (`--quick`: 200 requests). VmRSS and VmHWM of the "
    "`webcare serve` process (PostgreSQL, model loaded, in-process worker on) from /proc, and of a `webcare worker`."
)


def render(machine: str, args, requests: int, figures: dict) -> str:
    idle, busy, worker = figures["idle"], figures["busy"], figures["worker"]
    after, peak = busy["VmRSS"], busy["VmHWM"]
    lines = [
        f"### Run of {machine.split(' · ')[0]}{' (--quick)' if args.quick else ''}",
        "",
        f"{machine}. Memory does not depend on the other work sharing the cores.",
        "",
        "| process | when | VmRSS MiB | VmHWM MiB | anonymous MiB | file-backed MiB |",
        "| --- | --- | --- | --- | --- | --- |",
        _row("webcare serve", "idle, model loaded", idle),
        _row(
            "webcare serve",
            f"after {requests:,} messages and {requests:,} queue reads ({figures['failed']} failed)",
            busy,
        ),
        _row("webcare worker", "after a few rounds (no model needed)", worker),
        "",
        "| target | figure | baseline | |",
        "| --- | --- | --- | --- |",
        f"| serving process < {TARGET_MB} MB: resident after {requests:,} requests | {after:,.0f} MiB "
        f"({after * MIB_MB:,.0f} MB) | {_base('after')} | {harness.verdict(after * MIB_MB < TARGET_MB)} |",
        f"| serving process < {TARGET_MB} MB: the most ever resident (VmHWM, model loading included) | {peak:,.0f} MiB "
        f"({peak * MIB_MB:,.0f} MB) | {_base('peak')} | {harness.verdict(peak * MIB_MB < TARGET_MB)} |",
    ]
    return "\n".join(lines) + "\n"


def _base(key: str) -> str:
    return f"{BASELINE[key]:,.0f} MiB ({BASELINE[key] * MIB_MB:,.0f} MB)" if key in BASELINE else "–"


def _row(process: str, when: str, figures: dict[str, float]) -> str:
    return (
        f"| {process} | {when} | {figures['VmRSS']:,.0f} | {figures['VmHWM']:,.0f} | {figures['RssAnon']:,.0f} "
        f"| {figures['RssFile']:,.0f} |"
    )


if __name__ == "__main__":
    main()
