"""The generic import: CSV (either separator, with or without BOM) and JSON lines; good, duplicate and bad rows."""

import csv
import io
import json

import pytest
from sqlmodel import Session, func, select

from models import Message, Ticket
from service.importer import Progress, Refused, import_file, write_refused
from tests.conftest import KeywordClassifier, make_settings

HEADER = "channel;external_id;author_handle;author_name;text;sent_at;conversation_id;in_reply_to;permalink"
CSV_ROWS = [
    HEADER,
    "email;e1;burger@example.nl;Jan;Gat in de weg op de Kerkstraat 12;2026-11-18T10:00:00+01:00;;;",
    'web;w1;form-17;;"Hoe vraag ik een paspoort aan; met DigiD?";2026-11-18T11:00:00+01:00;;;',
    "email;e1;burger@example.nl;Jan;Gat in de weg op de Kerkstraat 12;2026-11-18T10:00:00+01:00;;;",
    "fax;f1;0201234567;;Kapotte lantaarn;2026-11-18T10:00:00+01:00;;;",
    "email;e2;burger@example.nl;;Zonder tijdzone;2026-11-18T10:00:00;;;",
    "",
    "email;e3;burger@example.nl;;   ;2026-11-18T10:00:00+01:00;;;",
    "email;e4;te;weinig",
    "email;e5;burger@example.nl;;Afval naast de container;2099-01-01T10:00:00+01:00;;;",
    "email;e6;buurman@example.nl;;Afval naast de container;2026-11-18T12:00:00+01:00;thread-1;e1;",
]


def settings(database_url):
    return make_settings(database_url)


def counts(engine) -> tuple[int, int]:
    with Session(engine) as session:
        return (
            session.exec(select(func.count()).select_from(Message)).one(),
            session.exec(select(func.count()).select_from(Ticket)).one(),
        )


def run(db, database_url, path, fmt, **options):
    return import_file(db, path, fmt=fmt, classifier=KeywordClassifier(), settings=settings(database_url), **options)


@pytest.mark.parametrize(("separator", "bom"), [(";", True), (",", False)])
def test_a_csv_export_is_imported_row_by_row_and_bad_rows_are_reported(db, database_url, tmp_path, separator, bom):
    path = tmp_path / "export.csv"
    lines = CSV_ROWS if separator == ";" else [_commas(line) for line in CSV_ROWS]
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")

    summary = run(db, database_url, path, "csv")

    assert (summary.read, summary.created, summary.duplicates) == (9, 3, 1)
    assert [(r.line, r.external_id) for r in summary.refused] == [(5, "f1"), (6, "e2"), (8, "e3"), (9, ""), (10, "e5")]
    reasons = [r.reason for r in summary.refused]
    assert reasons[0].startswith("channel: Input should be 'x', 'facebook'")
    assert reasons[1] == "sent_at: Input should have timezone info"
    assert reasons[2] == "text: Value error, text is empty"
    assert reasons[3] == "expected 9 fields, found 4"
    assert reasons[4].startswith("body.sent_at: lies in the future (now is ")
    assert counts(db) == (3, 3)
    with Session(db) as session:
        stored = session.exec(select(Message).where(Message.external_id == "w1")).one()
    assert (stored.text, stored.author_name, stored.conversation_id) == (
        "Hoe vraag ik een paspoort aan; met DigiD?",
        None,
        None,
    )


def _commas(line: str) -> str:
    if not line:
        return line
    fields = next(csv.reader([line], delimiter=";"))
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


def test_json_lines_are_imported_and_a_second_run_only_finds_duplicates(db, database_url, tmp_path):
    good = {
        "channel": "email",
        "external_id": "j1",
        "author_handle": "burger@example.nl",
        "text": "Lantaarnpaal kapot bij de speeltuin",
        "sent_at": "2026-11-18T10:00:00+01:00",
    }
    lines = [
        json.dumps(good),
        json.dumps({**good, "external_id": "j2", "text": "Hoe vraag ik een paspoort aan?"}),
        "",
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({**good, "external_id": "j3", "author_handle": ""}),
    ]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    summary = run(db, database_url, path, "jsonl")
    assert (summary.read, summary.created, summary.duplicates) == (5, 2, 0)
    assert [(r.line, r.reason) for r in summary.refused] == [
        (4, "not JSON: Expecting property name enclosed in double quotes at column 2"),
        (5, "not a JSON object"),
        (6, "author_handle: String should have at least 1 character"),
    ]
    again = run(db, database_url, path, "jsonl")
    assert (again.created, again.duplicates, len(again.refused)) == (0, 2, 3)
    assert counts(db) == (2, 2)


def test_a_dry_run_checks_everything_and_stores_nothing(db, database_url, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("\n".join(CSV_ROWS) + "\n", encoding="utf-8")
    summary = run(db, database_url, path, "csv", dry_run=True)
    assert (summary.read, summary.created, summary.duplicates, len(summary.refused)) == (9, 3, 1, 5)
    assert counts(db) == (0, 0)


def test_a_file_without_the_required_columns_is_refused_whole(db, database_url, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("kanaal,id,tekst\nemail,1,hallo\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lacks the column\\(s\\) channel, external_id, author_handle, text, sent_at"):
        run(db, database_url, path, "csv")


def test_the_refused_rows_report_is_written_next_to_the_input_and_removed_when_all_is_well(tmp_path):
    source = tmp_path / "export.csv"
    report = write_refused(source, [Refused(5, "f1", "channel: bad"), Refused(9, "", "expected 9 fields, found 4")])
    assert report == tmp_path / "export.csv.refused.csv"
    assert report.read_text(encoding="utf-8").splitlines() == [
        "line,external_id,reason",
        "5,f1,channel: bad",
        '9,,"expected 9 fields, found 4"',
    ]
    assert write_refused(source, []) is None
    assert not report.exists()


def test_the_progress_bar_redraws_one_line_in_place():
    stream = io.StringIO()
    progress = Progress(200, stream, enabled=True, width=10)
    progress.update(50, force=True)
    progress.update(60)  # within 0.1 s of the last drawing: skipped
    progress.finish(200)
    assert stream.getvalue() == (
        "\rimporting [##--------]  25% 50/200 rows\rimporting [##########] 100% 200/200 rows\n"
    )
    silent = io.StringIO()
    Progress(10, silent).finish(10)  # not a terminal: no bar
    assert silent.getvalue() == ""
