"""`webcare import`: messages exported from another tool (CSV or JSON lines) taken in like any other."""

import csv
import json
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session

from models import MessageCreate, utcnow
from service import ingestion
from service.channels.common import describe
from service.configuration import load_pipeline_config
from service.db import SQLITE_IMMEDIATE
from service.errors import WebcareError
from service.inbox import describe_detail
from service.settings import Settings

log = logging.getLogger(__name__)

COLUMNS = (
    "channel",
    "external_id",
    "author_handle",
    "author_name",
    "text",
    "sent_at",
    "conversation_id",
    "in_reply_to",
    "permalink",
)
REQUIRED = ("channel", "external_id", "author_handle", "text", "sent_at")
# Rows per commit: fast on SQLite, and a failed row only rolls back its own savepoint, never the good ones.
BATCH = 200
FORMATS = ("csv", "jsonl")


@dataclass
class Refused:
    line: int
    external_id: str
    reason: str


@dataclass
class Summary:
    read: int = 0
    created: int = 0
    duplicates: int = 0
    refused: list[Refused] = field(default_factory=list)

    def line(self) -> str:
        return f"read {self.read}, created {self.created}, duplicates {self.duplicates}, refused {len(self.refused)}"


def guess_format(path: Path) -> str:
    return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"


def refused_report_path(path: Path) -> Path:
    return path.with_name(path.name + ".refused.csv")


def read_rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, row) per record, or (line number, reason) for a record that cannot even be read."""
    # utf-8-sig: spreadsheet programs often start a UTF-8 file with a byte-order mark.
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from (_csv_rows(handle) if fmt == "csv" else _jsonl_rows(handle))


def _csv_rows(handle: TextIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    header = handle.readline()
    # Dutch spreadsheets write ";" (the comma is the decimal separator); others ",".
    delimiter = ";" if header.count(";") > header.count(",") else ","
    columns = [name.strip().lower() for name in next(csv.reader([header], delimiter=delimiter), [])]
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise ValueError(f"the header row lacks the column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
    reader = csv.reader(handle, delimiter=delimiter)
    consumed = 0  # physical lines read after the header (a quoted field may span several)
    for values in reader:
        line, consumed = consumed + 2, reader.line_num
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(columns):
            yield line, f"expected {len(columns)} fields, found {len(values)}"
            continue
        # An empty cell of an optional column means "not given", not an empty string.
        yield line, {k: v for k, v in zip(columns, values) if k in COLUMNS and (v != "" or k in REQUIRED)}


def _jsonl_rows(handle: TextIO) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for number, text in enumerate(handle, start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            yield number, f"not JSON: {exc.msg} at column {exc.colno}"
            continue
        yield (number, row) if isinstance(row, dict) else (number, "not a JSON object")


class Progress:
    """A one-line progress bar on stderr, redrawn in place; silent when stderr is not a terminal."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, *, enabled: bool | None = None, width: int = 30):
        self.total = max(total, 1)
        self.stream = stream
        self.enabled = stream.isatty() if enabled is None else enabled
        self.width = width
        self._drawn = 0.0

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._drawn < 0.1):
            return
        self._drawn = now
        share = min(done / self.total, 1.0)
        filled = int(share * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\rimporting [{bar}] {share:4.0%} {done}/{self.total} rows")
        self.stream.flush()

    def finish(self, done: int) -> None:
        self.update(done, force=True)
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def count_records(path: Path, fmt: str) -> int:
    with path.open("rb") as handle:
        lines = sum(1 for line in handle if line.strip())
    return lines - 1 if fmt == "csv" else lines


def import_file(
    engine: Engine,
    path: Path,
    *,
    fmt: str,
    classifier: ingestion.Classifies,
    settings: Settings,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> Summary:
    """Validate and ingest every row; a dry run does all of it in a transaction that is rolled back."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    summary = Summary()
    session = Session(engine, expire_on_commit=False)
    try:
        _begin(session, engine)
        config = load_pipeline_config(session, settings)
        for line, row in read_rows(path, fmt):
            summary.read += 1
            _one(session, line, row, summary, classifier=classifier, config=config, settings=settings)
            if not dry_run and summary.read % BATCH == 0:
                session.commit()
                _begin(session, engine)
            if progress is not None:
                progress.update(summary.read)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    finally:
        session.close()
    if progress is not None:
        progress.finish(summary.read)
    return summary


def _begin(session: Session, engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        session.connection(execution_options={SQLITE_IMMEDIATE: True})


def _one(session: Session, line: int, row: dict[str, Any] | str, summary: Summary, **pipeline) -> None:
    external_id = str(row.get("external_id") or "") if isinstance(row, dict) else ""
    if isinstance(row, str):
        summary.refused.append(Refused(line, external_id, row))
        return
    try:
        incoming = MessageCreate.model_validate(row)
        with session.begin_nested():
            result = ingestion.ingest(session, incoming, now=utcnow(), **pipeline)
    except ValidationError as exc:
        summary.refused.append(Refused(line, external_id, describe(exc)))
        return
    except WebcareError as exc:
        summary.refused.append(Refused(line, external_id, describe_detail(exc.message)))
        return
    except (DataError, IntegrityError) as exc:
        # The savepoint is rolled back; the row's values stay out of the report and the log.
        summary.refused.append(Refused(line, external_id, f"the database refused it ({type(exc).__name__})"))
        return
    if result.created:
        summary.created += 1
    else:
        summary.duplicates += 1


def write_refused(path: Path, refused: list[Refused]) -> Path | None:
    """`<file>.refused.csv` next to the input (an old one is removed when nothing was refused)."""
    report = refused_report_path(path)
    if not refused:
        report.unlink(missing_ok=True)
        return None
    with report.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "external_id", "reason"])
        writer.writerows([r.line, r.external_id, r.reason] for r in refused)
    return report
