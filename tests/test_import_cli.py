"""`webcare import FILE` as a real process: summary and refused rows on stderr, the report file, exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import classifier

WEBCARE = [sys.executable, "-m", "service"]


@pytest.fixture(scope="module")
def model_dir(trained_model, tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("model") / "current"
    classifier.save(trained_model, directory)
    return directory


@pytest.fixture
def run(tmp_path, model_dir):
    env = {
        **os.environ,
        "WEBCARE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "WEBCARE_MODEL_PATH": str(model_dir),
    }

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*WEBCARE, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)

    return run


def message(external_id: str, **overrides) -> str:
    body = {
        "channel": "email",
        "external_id": external_id,
        "author_handle": "burger@example.nl",
        "text": "Er ligt een omgewaaide boom op het fietspad",
        "sent_at": "2026-11-18T10:00:00+01:00",
    }
    return json.dumps({**body, **overrides})


def test_import_exits_1_with_a_report_when_rows_are_refused_and_0_when_all_were_valid(run, tmp_path):
    assert run("migrate").returncode == 0
    assert run("seed").returncode == 0
    export = tmp_path / "export.jsonl"
    export.write_text("\n".join([message("a"), message("b"), message("c", channel="fax")]) + "\n", encoding="utf-8")

    dry = run("import", str(export), "--dry-run")
    assert dry.returncode == 1
    assert "dry run, nothing stored: read 3, created 2, duplicates 0, refused 1" in dry.stderr

    first = run("import", str(export))
    assert first.returncode == 1, first.stderr
    assert "read 3, created 2, duplicates 0, refused 1" in first.stderr
    assert "  line 3: channel: Input should be" in first.stderr
    report = tmp_path / "export.jsonl.refused.csv"
    assert f"refused rows: {report}" in first.stderr
    assert report.read_text(encoding="utf-8").splitlines() == [
        "line,external_id,reason",
        "3,c,\"channel: Input should be 'x', 'facebook', 'instagram', 'whatsapp', 'web' or 'email'\"",
    ]

    export.write_text("\n".join([message("a"), message("b")]) + "\n", encoding="utf-8")
    again = run("import", str(export))
    assert again.returncode == 0, again.stderr
    assert "read 2, created 0, duplicates 2, refused 0" in again.stderr
    assert not report.exists()

    missing = run("import", str(tmp_path / "nowhere.csv"))
    assert missing.returncode == 2
