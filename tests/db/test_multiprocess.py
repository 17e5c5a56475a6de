"""The production shape: two API processes and two `webcare worker` processes on one PostgreSQL database.

Messages go to both API processes at once (some twice on purpose, to both processes at the same moment), agents
claim from both, the workers deliver to a receiver on 127.0.0.1; then an API process and the workers are stopped
with SIGTERM while work is in flight. Nothing is lost, stored twice, claimed twice or sent twice.
"""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from datetime import time as clock_time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session

import classifier
from models import Role
from service import auth
from service.configuration import apply_config, read_config_file
from service.migrations import upgrade
from tests.conftest import create_postgres_database, drop_postgres_database, require_postgres, run_async

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
EVAL = ROOT / "fixtures" / "classifier" / "eval.jsonl"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
MESSAGES = 160
REPEATED = 40  # of those, sent a second time, to the other API process at the same moment
AGENTS = 8
SECRET = "receiver-hmac-secret"


class Receiver:
    """The intake, the public-space system and X on one port: counts every request by its Idempotency-Key."""

    def __init__(self):
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                key = self.headers.get("Idempotency-Key", "")
                with receiver.lock:
                    receiver.requests[key] += 1
                time.sleep(receiver.delay)
                raw = json.dumps({"id": f"remote-{key}", "data": {"id": f"remote-{key}"}}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sent_at(hour: int) -> str:
    """Last Tuesday before today at this hour in Amsterdam: 10 (the teams are open) or 21 (closed)."""
    today = datetime.now(AMSTERDAM).date()
    tuesday = today - timedelta(days=(today.weekday() - 1) % 7 or 7)
    return datetime.combine(tuesday, clock_time(hour), tzinfo=AMSTERDAM).isoformat()


def texts() -> list[str]:
    return [json.loads(line)["text"] for line in EVAL.read_text(encoding="utf-8").splitlines() if line.strip()]


def message(number: int, corpus: list[str], prefix: str = "m") -> dict:
    # Half in office hours, half outside them (out-of-hours reports go to two receivers and get an acknowledgement).
    return {
        "channel": "x",
        "external_id": f"{prefix}{number}",
        "author_handle": f"@citizen{number}",
        "text": corpus[number % len(corpus)],
        "sent_at": sent_at(10 if number % 2 else 21),
        "conversation_id": f"{prefix}-conversation-{number}",
        "permalink": f"https://x.com/citizen{number}/status/{number}",
    }


class Deployment:
    """The processes of one installation, each with its output in a log file."""

    def __init__(self, url: str, model: Path, receiver: Receiver, logs: Path):
        self.logs = logs
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("WEBCARE_")}
        targets = {
            name: {"format": "webhook", "url": f"{receiver.base}/{name}", "secret": SECRET}
            for name in ("buiten_kantoortijd", "openbare_ruimte")
        }
        self.env.update(
            WEBCARE_DATABASE_URL=url,
            WEBCARE_MODEL_PATH=str(model),
            WEBCARE_SECRET_KEY="multiprocess-" + "s" * 40,
            # Separate workers run the background jobs (the documented production set-up).
            WEBCARE_RUN_WORKER_IN_PROCESS="false",
            # Four processes of at most 6 connections each: 24, well under PostgreSQL's max_connections.
            WEBCARE_DB_POOL_SIZE="4",
            WEBCARE_DB_MAX_OVERFLOW="2",
            WEBCARE_DELIVERY_TARGETS=json.dumps(targets),
            WEBCARE_X_API_URL=receiver.base,
            WEBCARE_X_BEARER_TOKEN="x-user-token",
            WEBCARE_DELIVERY_POLL_SECONDS="0.5",
            WEBCARE_SWEEP_INTERVAL_SECONDS="1",
            # The per-token rate limit is not the subject here: this test is one client sending a burst.
            WEBCARE_INGEST_RATE_PER_TOKEN="0",
            WEBCARE_INGEST_RATE_PER_IP="0",
        )
        self.processes: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}

    def start(self, name: str, *command: str) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - the process writes it until it ends
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "service", *command], env=self.env, cwd=self.logs, stdout=log, stderr=log
        )

    def serve(self, name: str) -> None:
        self.ports[name] = free_port()
        self.start(name, "serve", "--host", "127.0.0.1", "--port", str(self.ports[name]))

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        for name in self.ports:
            while True:
                assert self.processes[name].poll() is None, f"{name} stopped:\n{self.log(name)}"
                try:
                    if httpx.get(f"{self.url(name)}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"{name} did not become ready:\n{self.log(name)}"
                time.sleep(0.2)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def installation(tmp_path, trained_model):
    require_postgres()
    url = create_postgres_database()
    engine = create_engine(url)
    receiver = Receiver()
    deployment = None
    try:
        upgrade(url)
        with Session(engine) as session:
            apply_config(session, read_config_file())
            auth.create_user(session, "feed", role=Role.integration)
            tokens = {"feed": auth.create_token(session, "feed")}
            for i in range(AGENTS):
                name = f"agent{i}"
                auth.create_user(session, name, role=Role.agent, departments=["kcc", "communicatie", "triage"])
                tokens[name] = auth.create_token(session, name)
            session.commit()
        model = classifier.save(trained_model, tmp_path / "model")
        deployment = Deployment(url, model, receiver, tmp_path)
        deployment.serve("api-1")
        deployment.serve("api-2")
        deployment.start("worker-1", "worker")
        deployment.start("worker-2", "worker")
        deployment.wait_ready()
        yield deployment, engine, receiver, tokens
    finally:
        if deployment is not None:
            deployment.stop_all()
        receiver.stop()
        engine.dispose()
        drop_postgres_database(url)


async def post_messages(deployment: Deployment, token: str, corpus: list[str]) -> list[tuple[str, int, dict]]:
    """Every message once, to the two processes in turn; REPEATED of them also to the other one, at the same time."""
    headers = {"Authorization": f"Bearer {token}"}
    apis = [deployment.url("api-1"), deployment.url("api-2")]
    limit = asyncio.Semaphore(12)
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:

        async def send(number: int, api: str) -> tuple[str, int, dict]:
            async with limit:
                response = await client.post(f"{api}/api/v1/messages", json=message(number, corpus))
            return f"m{number}", response.status_code, response.json()

        sends = []
        for number in range(MESSAGES):
            sends.append(send(number, apis[number % 2]))
            if number % (MESSAGES // REPEATED) == 0:
                sends.append(send(number, apis[(number + 1) % 2]))
        return await asyncio.gather(*sends)


async def claim_all(deployment: Deployment, tokens: dict[str, str]) -> list[int]:
    """Every agent claims from both processes in turn until every queue answers 204 (nothing waiting)."""
    apis = [deployment.url("api-1"), deployment.url("api-2")]
    claimed: list[int] = []
    async with httpx.AsyncClient(timeout=60) as client:

        async def agent(number: int) -> None:
            headers = {"Authorization": f"Bearer {tokens[f'agent{number}']}"}
            for department in ("kcc", "communicatie", "triage"):
                turn = number
                while True:
                    turn += 1
                    response = await client.post(f"{apis[turn % 2]}/api/v1/queue/{department}/claim", headers=headers)
                    if response.status_code == 204:
                        break
                    assert response.status_code == 200, response.text
                    claimed.append(response.json()["id"])

        await asyncio.gather(*(agent(number) for number in range(AGENTS)))
    return claimed


def scalar(engine, sql: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(sql)).scalar_one()


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_two_api_processes_and_two_workers_lose_nothing_and_do_nothing_twice(installation):
    deployment, engine, receiver, tokens = installation
    corpus = texts()

    # Messages: each stored once, every repeat answered with the same message and ticket.
    answers = run_async(post_messages(deployment, tokens["feed"], corpus))
    assert {status for _, status, _ in answers} <= {200, 201}, Counter(status for _, status, _ in answers)
    by_id: dict[str, list[tuple[int, dict]]] = {}
    for external_id, status, body in answers:
        by_id.setdefault(external_id, []).append((status, body))
    assert len(by_id) == MESSAGES
    for external_id, replies in by_id.items():
        assert [status for status, _ in replies].count(201) == 1, (external_id, replies)
        assert len({(body["message_id"], body["ticket"]["id"]) for _, body in replies}) == 1, (external_id, replies)
    stored = scalar(engine, "SELECT count(*) FROM messages WHERE direction = 'inbound'")
    stored_twice = scalar(
        engine,
        "SELECT count(*) FROM (SELECT external_id FROM messages GROUP BY channel, external_id HAVING count(*) > 1) d",
    )
    lost = MESSAGES - scalar(
        engine,
        "SELECT count(DISTINCT external_id) FROM messages WHERE direction = 'inbound' AND external_id LIKE 'm%'",
    )
    assert (stored, stored_twice, lost) == (MESSAGES, 0, 0)

    # Claims: every waiting ticket handed out once, to one agent, through either process. A claim skips the
    # tickets another transaction holds locked, the SLA sweeper's included (it updates every ticket whose target it
    # marks, and these messages' targets are long overdue), so a queue can answer 204 while the sweeper holds its
    # last tickets: the agents try again, as a person would, until nothing is left.
    waiting = scalar(engine, "SELECT count(*) FROM tickets WHERE status IN ('new', 'reopened')")
    claimed: list[int] = []
    for _ in range(10):
        claimed += run_async(claim_all(deployment, tokens))
        if scalar(engine, "SELECT count(*) FROM tickets WHERE status IN ('new', 'reopened')") == 0:
            break
        time.sleep(0.5)
    claimed_twice = len(claimed) - len(set(claimed))
    assert (len(claimed), claimed_twice) == (waiting, 0)
    assert scalar(engine, "SELECT count(*) FROM tickets WHERE status = 'open' AND assignee_id IS NOT NULL") == waiting

    # Deliveries: the two workers send every one, each once.
    deliveries = scalar(engine, "SELECT count(*) FROM deliveries")
    assert deliveries > 0, "the out-of-hours reports and acknowledgements should have made deliveries"
    wait_for(
        lambda: scalar(engine, "SELECT count(*) FROM deliveries WHERE status = 'delivered'") == deliveries,
        timeout=60,
        what="every delivery to be delivered",
    )
    sent_twice = sum(1 for count in receiver.requests.values() if count > 1)
    assert (len(receiver.requests), sent_twice) == (deliveries, 0)

    # A configuration change committed elsewhere (here: this process, as `webcare seed` would) is used by the very
    # next request in both API processes, though each keeps its configuration between requests.
    changed = read_config_file()
    for rule in changed.routing_rules:
        rule.department = "triage"
    with Session(engine) as session:
        apply_config(session, changed)
        session.commit()
    for number, api in enumerate(("api-1", "api-2")):
        response = httpx.post(
            f"{deployment.url(api)}/api/v1/messages",
            json=message(number, corpus, prefix="reconfigured"),
            headers={"Authorization": f"Bearer {tokens['feed']}"},
            timeout=60,
        )
        assert response.status_code == 201, response.text
        assert response.json()["ticket"]["department"] == "triage", (api, response.json()["ticket"])

    # Graceful shutdown of an API process: requests in flight when SIGTERM arrives are answered and stored.
    # (The receiver slows down from here on, so that the workers are still sending when they are stopped below.)
    receiver.delay = 0.3

    async def batches_during_sigterm() -> list[httpx.Response]:
        # Each batch's body is sent in two halves, the second only after SIGTERM: the requests are certainly in
        # flight when the signal arrives, however fast the machine.
        signalled = asyncio.Event()

        async def in_two_halves(body: bytes):
            yield body[: len(body) // 2]
            await signalled.wait()
            yield body[len(body) // 2 :]

        headers = {"Authorization": f"Bearer {tokens['feed']}", "Content-Type": "application/json"}
        bodies = [
            json.dumps({"messages": [message(n, corpus, prefix=f"late{b}-") for n in range(60)]}).encode()
            for b in range(2)
        ]
        async with httpx.AsyncClient(headers=headers, timeout=120) as client:
            in_flight = [
                asyncio.create_task(
                    client.post(f"{deployment.url('api-1')}/api/v1/messages/batch", content=in_two_halves(body))
                )
                for body in bodies
            ]
            await asyncio.sleep(1.0)
            deployment.processes["api-1"].send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            signalled.set()
            return await asyncio.gather(*in_flight)

    before = scalar(engine, "SELECT count(*) FROM messages WHERE direction = 'inbound'")
    responses = run_async(batches_during_sigterm())
    # uvicorn re-raises the SIGTERM once its graceful shutdown is done, so the exit status says "terminated".
    assert deployment.processes["api-1"].wait(timeout=60) in (0, -signal.SIGTERM), deployment.log("api-1")
    assert "Application shutdown complete" in deployment.log("api-1")
    assert [r.status_code for r in responses] == [200, 200]
    answered = sum(1 for r in responses for result in r.json()["results"] if result.get("created"))
    assert answered == 120
    assert scalar(engine, "SELECT count(*) FROM messages WHERE direction = 'inbound'") == before + 120
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{deployment.url('api-1')}/healthz", timeout=2)
    assert httpx.get(f"{deployment.url('api-2')}/healthz", timeout=5).status_code == 200

    # Graceful shutdown of the workers: SIGTERM while they are sending the new deliveries; they finish the round.
    total = scalar(engine, "SELECT count(*) FROM deliveries")
    assert total > deliveries, "the late out-of-hours reports should have made deliveries"
    sent_before = sum(receiver.requests.values())
    wait_for(lambda: sum(receiver.requests.values()) > sent_before, timeout=30, what="the workers to start sending")
    unsent = total - scalar(engine, "SELECT count(*) FROM deliveries WHERE status = 'delivered'")
    assert unsent > 0, "the workers should still have deliveries to send when they are stopped"
    for name in ("worker-1", "worker-2"):
        deployment.processes[name].send_signal(signal.SIGTERM)
    for name in ("worker-1", "worker-2"):
        assert deployment.processes[name].wait(timeout=60) == 0, deployment.log(name)
        assert "worker stopped" in deployment.log(name)
    delivered = scalar(engine, "SELECT count(*) FROM deliveries WHERE status = 'delivered'")
    sent_twice = sum(1 for count in receiver.requests.values() if count > 1)
    with engine.connect() as connection:
        left = connection.execute(
            text(
                "SELECT status, kind, attempts, next_attempt_at > now() AS later, last_error FROM deliveries "
                "WHERE status <> 'delivered' LIMIT 5"
            )
        ).all()
    assert (delivered, len(receiver.requests), sent_twice) == (total, total, 0), left
    print(
        f"\n2 API processes + 2 workers: {len(answers)} messages sent ({MESSAGES} distinct, {REPEATED} of them "
        f"twice, to both processes at once): {stored} stored, 0 stored twice, 0 lost; {len(claimed)} claims through "
        f"both processes, 0 twice; {total} deliveries, each sent once. SIGTERM: the 2 batches in flight were "
        f"answered (120 messages stored) before the API process ended; the workers finished their round "
        f"({unsent} deliveries still to send at SIGTERM, all sent, 0 left) and exited 0"
    )
