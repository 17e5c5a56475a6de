"""The `webcare` command line as the contracts describe it, run as a real process."""

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

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        # Run from an unrelated folder: the model and migrations must be found from anywhere.
        return subprocess.run(
            [*WEBCARE, *args], input=stdin, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
        )

    return run


def test_migrate_seed_users_and_tokens(run):
    assert run("migrate").returncode == 0
    assert run("seed").returncode == 0
    created = run("create-user", "anna", "--role", "agent", "--department", "kcc", "--password-stdin", stdin="geheim\n")
    assert created.returncode == 0, created.stderr

    token = run("create-token", "anna")
    assert token.returncode == 0
    lines = token.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("wcr_") and len(lines[0]) > 40

    duplicate = run("create-user", "anna", "--role", "agent")
    assert duplicate.returncode == 2
    assert "already exists" in duplicate.stderr
    unknown = run("create-user", "bob", "--role", "agent", "--department", "nergens")
    assert unknown.returncode == 2
    assert "unknown department(s): nergens" in unknown.stderr


def test_classify_reads_and_writes_json_lines_without_a_database(run, tmp_path):
    stdin = "\n".join(
        json.dumps({"id": i, "text": text})
        for i, text in enumerate(["Lantaarnpaal kapot op de Dorpsstraat", "Wanneer is het gemeentehuis open?"])
    )
    result = run("classify", stdin=stdin + "\n")

    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["id"] for row in rows] == [0, 1]
    assert [row["category"] for row in rows] == ["public_space_report", "service_question"]
    assert all(0 < row["confidence"] <= 1 and set(row) == {"id", "category", "confidence"} for row in rows)
    assert not (tmp_path / "cli.db").exists()


def test_classify_names_a_bad_line(run):
    result = run("classify", stdin='{"id": 1, "text": "hallo"}\nnot json\n')
    assert result.returncode == 2
    assert "line 2" in result.stderr


def test_evaluate_prints_a_report_and_json(run, tmp_path):
    data = tmp_path / "few.jsonl"
    data.write_text(
        "\n".join(
            json.dumps(row)
            for row in [
                {"text": "Er ligt een berg afval naast de container aan de Lindelaan", "label": "public_space_report"},
                {"text": "Hoe vraag ik een parkeervergunning aan?", "label": "service_question"},
                {"text": "Wat een prachtige kerstmarkt gisteren, complimenten!", "label": "communication"},
            ]
        )
    )
    as_json = run("evaluate", "--data", str(data), "--json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["n"] == 3
    assert set(report["per_class"]) == set(classifier.LABELS)
    assert {"macro_f1", "confusion_matrix", "triage_share", "calibration"} <= set(report)

    text = run("evaluate", "--data", str(data))
    assert text.returncode == 0
    assert "macro" in text.stdout.lower()


def test_a_missing_model_is_one_clear_line(run, tmp_path):
    result = subprocess.run(
        [*WEBCARE, "classify"],
        input="",
        capture_output=True,
        text=True,
        env={**os.environ, "WEBCARE_MODEL_PATH": str(tmp_path / "nothing-here")},
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no model at" in result.stderr
    assert "Traceback" not in result.stderr
