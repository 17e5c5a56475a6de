"""What the benchmarks share: the machine, RESULTS.md, a trained model, PostgreSQL databases and a served app."""

import datetime
import hashlib
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from zoneinfo import ZoneInfo

# The code to measure: this checkout, or another tree given in WEBCARE_BENCH_SOURCE (a proposed change, measured
# before it lands); it must come first on the path, before anything of ours is imported.
ROOT = Path(__file__).resolve().parent.parent
# Always first: a virtualenv's editable install may point at another checkout (a git worktree sharing it).
SOURCE = os.environ.get("WEBCARE_BENCH_SOURCE", str(ROOT))
sys.path.insert(0, SOURCE)

import httpx2 as httpx  # noqa: E402
import sklearn  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

import classifier  # noqa: E402
from models import Role  # noqa: E402
from service import auth  # noqa: E402
from service.configuration import apply_config, read_config_file  # noqa: E402
from service.migrations import upgrade  # noqa: E402
from service.modelops import TRAIN_DATA  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
POSTGRES_ADMIN_URL = os.environ.get("WEBCARE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
HOST = "127.0.0.1"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SHARED_CPUS = "server, database and load generator share the machine's cores"


# The machine ---------------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _ram_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def postgres_version() -> str:
    engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            return connection.execute(text("SHOW server_version")).scalar_one().split()[0]
    except Exception:  # noqa: BLE001 - a benchmark on SQLite alone still runs
        return "unreachable"
    finally:
        engine.dispose()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def git_revision() -> str:
    try:
        revision = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
        return revision + ("+uncommitted changes" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def code_under_test() -> str:
    """What was measured: the checkout, or (WEBCARE_BENCH_SOURCE) another tree, named by WEBCARE_BENCH_LABEL."""
    if SOURCE == str(ROOT):
        return git_revision()
    return os.environ.get("WEBCARE_BENCH_LABEL", f"the tree at {SOURCE}")


def machine() -> str:
    """One line that says where and when the figures were measured."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now} · {os.cpu_count()} cores ({_cpu_model()}) · {_ram_gib():.1f} GiB RAM · "
        f"Python {platform.python_version()} · PostgreSQL {postgres_version()} · code {code_under_test()} · "
        f"load average before the run {load_average()}"
    )


# CPU time ------------------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime + stime of all the process's threads


def descendants(pid: int) -> list[int]:
    """The process and every live process below it (uvicorn's worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def postgres_backends(url: str) -> list[int]:
    """The server processes of every connection to this database (their CPU time is the database's work)."""
    name = url.rsplit("/", 1)[1]
    engine = create_engine(POSTGRES_ADMIN_URL)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"),
                {"name": name},
            )
            return [row[0] for row in rows]
    finally:
        engine.dispose()


class CpuMeter:
    """CPU seconds used by a set of processes between start() and stop(); processes found later count in full."""

    def __init__(self, find_pids):
        self.find_pids = find_pids
        self.seconds = 0.0

    def start(self) -> None:
        self._before = {pid: _cpu_ticks(pid) for pid in self.find_pids()}

    def stop(self) -> float:
        after = {pid: _cpu_ticks(pid) for pid in self.find_pids()}
        ticks = sum(value - self._before.get(pid, 0) for pid, value in after.items())
        self.seconds = max(0, ticks) / CLOCK_TICKS
        return self.seconds


def wait_until_idle(meter: CpuMeter, *, limit_seconds: float = 60, share: float = 0.05) -> float:
    """Wait until the measured processes use less than `share` of a core: an overloaded server is still working
    off requests whose clients gave up, and the next measurement must not pay for them. Returns seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit_seconds:
        meter.start()
        time.sleep(0.5)
        if meter.stop() < 0.5 * share:
            break
    return time.monotonic() - began


# RESULTS.md ----------------------------------------------------------------------------------------


def append_results(heading: str, report: str, *, note: str) -> None:
    """Add a run at the end of one section of RESULTS.md (creating it if needed); other sections stay as they are."""
    heading = f"## {heading}"
    content = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    lines = content.splitlines(keepends=True)
    if heading + "\n" not in lines:
        content = content.rstrip("\n") + f"\n\n{heading}\n\n{note}\n"
        lines = content.splitlines(keepends=True)
    start = lines.index(heading + "\n")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    section = "".join(lines[:end]).rstrip("\n") + "\n\n" + report.rstrip("\n") + "\n"
    rest = "".join(lines[end:])
    RESULTS.write_text(section + ("\n" + rest if rest else ""))


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


# The model -----------------------------------------------------------------------------------------


def _current(path: Path) -> bool:
    try:
        return classifier.load_model(path).metadata.get("format") == classifier.model.FORMAT
    except classifier.ModelError:
        return False


def model_path() -> Path:
    """WEBCARE_MODEL_PATH, else the packaged default, else one trained on the fixtures (cached in the temp folder)."""
    if os.environ.get("WEBCARE_MODEL_PATH"):
        return Path(os.environ["WEBCARE_MODEL_PATH"])
    # Only a model of the current artifact format: an older one still loads, but measures the older format's memory.
    if _current(classifier.default_model_home()):
        return classifier.default_model_home()
    digest = hashlib.sha256(TRAIN_DATA.read_bytes()).hexdigest()[:12]
    name = f"webcare-bench-model-{digest}-sklearn{sklearn.__version__}-{classifier.model.FORMAT.replace('/', '-')}"
    cached = Path(tempfile.gettempdir()) / name
    if _current(cached):
        return cached
    print(f"training the classifier once on {TRAIN_DATA.name} (about 30 s), cached in {cached}", flush=True)
    classifier.save(classifier.train(classifier.load_examples(TRAIN_DATA)), cached)
    return cached


# Databases -----------------------------------------------------------------------------------------


def create_postgres_database(prefix: str = "webcare_bench") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return re.sub(r"/[^/]*$", f"/{name}", POSTGRES_ADMIN_URL)


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@contextmanager
def database(backend: str, workdir: Path):
    """A fresh, migrated database with the default configuration; dropped (PostgreSQL) afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
    else:
        url = create_postgres_database()
    try:
        upgrade(url)
        apply_default_config(url)
        yield url
    finally:
        if backend == "postgresql":
            drop_postgres_database(url)


def apply_default_config(url: str) -> None:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            apply_config(session, read_config_file())
            session.commit()
    finally:
        engine.dispose()


def create_user_with_token(url: str, name: str, *, role: Role, departments: list[str] = ()) -> str:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            auth.create_user(session, name, role=role, departments=list(departments))
            token = auth.create_token(session, name)
            session.commit()
        return token
    finally:
        engine.dispose()


# Serving -------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Server:
    """An app served by uvicorn in a subprocess (its own process group), as `webcare serve` does it."""

    def __init__(self, command: list[str], *, env: dict[str, str], workdir: Path, port: int, name: str):
        self.command, self.env, self.workdir, self.port, self.name = command, env, workdir, port, name
        self.base_url = f"http://{HOST}:{port}"
        self.log_path = workdir / f"{name}-{port}.log"
        self.process: subprocess.Popen | None = None
        # How long SIGTERM (uvicorn's graceful shutdown) may take before the group is killed.
        self.grace_seconds = 40.0

    def __enter__(self) -> "Server":
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in __exit__
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=self.workdir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"{self.name} did not become ready: see {self.log_path}")

    def __exit__(self, *_exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=self.grace_seconds)
            except subprocess.TimeoutExpired:
                pass
        if self.process:
            # Whatever is left of the group (uvicorn's worker processes) goes too.
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()
        self.log.close()


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("WEBCARE_")}
    env.update(
        WEBCARE_DATABASE_URL=database_url,
        WEBCARE_MODEL_PATH=str(model_path()),
        WEBCARE_SECRET_KEY="bench-" + "x" * 40,
        PYTHONPATH=SOURCE,
        # Benchmarks measure the pipeline, not the per-client limits (a rate of 0 switches a limit off) ...
        WEBCARE_INGEST_RATE_PER_TOKEN="0",
        WEBCARE_INGEST_RATE_PER_IP="0",
        # ... and send nothing to the outside world: acknowledgements would go to these (closed) local ports.
        WEBCARE_META_GRAPH_URL="http://127.0.0.1:9",
        WEBCARE_X_API_URL="http://127.0.0.1:9",
        # Background jobs run in `webcare worker` processes in production; here they would compete for the cores.
        WEBCARE_RUN_WORKER_IN_PROCESS="false",
    )
    env.update(extra)
    return env


def webcare_serve(database_url: str, workdir: Path, *, workers: int = 1, **extra_env: str) -> Server:
    """`webcare serve` itself (its logging and uvicorn settings), on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "service", "serve", "--host", HOST, "--port", str(port)]
    command += ["--workers", str(workers)]
    return Server(command, env=server_env(database_url, **extra_env), workdir=workdir, port=port, name="webcare")


def noop_serve(workdir: Path, *, workers: int = 1) -> Server:
    """The no-op app of bench/noop_app.py, served with exactly the same uvicorn settings and logging."""
    port = free_port()
    command = [sys.executable, str(Path(__file__).with_name("noop_app.py")), "--port", str(port)]
    command += ["--workers", str(workers)]
    env = server_env("sqlite://", PYTHONPATH=f"{SOURCE}:{Path(__file__).parent}")
    return Server(command, env=env, workdir=workdir, port=port, name="noop")


# Messages ------------------------------------------------------------------------------------------

CHANNELS = ("x", "facebook", "instagram", "whatsapp", "web", "email")


def sample_texts(limit: int = 400) -> list[str]:
    """Real citizens' messages of every category (the classifier's evaluation set)."""
    path = ROOT / "fixtures" / "classifier" / "eval.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return texts[:limit]


def sent_times() -> tuple[str, str]:
    """The last Tuesday before today at 10:00 (teams open) and 21:00 (closed: out-of-hours routing, acknowledgement).

    Fixed moments, not "now", so a run at night measures the same mix of work as a run by day.
    """
    today = datetime.datetime.now(AMSTERDAM).date()
    tuesday = today - datetime.timedelta(days=(today.weekday() - 1) % 7 or 7)
    return tuple(
        datetime.datetime.combine(tuesday, datetime.time(hour), tzinfo=AMSTERDAM).isoformat() for hour in (10, 21)
    )


def message(run: str, number: int, texts: list[str], sent_at: tuple[str, str]) -> dict:
    """A new message from a new conversation (one in ten continues the previous citizen's conversation)."""
    conversation = number - 1 if number % 10 == 9 else number
    return {
        "channel": CHANNELS[conversation % len(CHANNELS)],
        "external_id": f"{run}-{number}",
        "author_handle": f"@citizen{conversation % 5000}",
        "text": texts[number % len(texts)],
        "sent_at": sent_at[conversation % 2],
        "conversation_id": f"{run}-conversation-{conversation}",
    }
