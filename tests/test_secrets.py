"""No secret in the repository, and none (nor a citizen's personal data) in the log."""

import logging
import re
import subprocess
from pathlib import Path

from sqlmodel import Session

from models import Role
from service import auth
from tests.api.test_audit import log_in
from tests.api.test_messages import message
from tests.api.test_privacy_flow import PERSONAL, TEXT
from tests.api.test_queue import at

# What a committed secret looks like. Written in pieces, so this file does not match itself.
SECRET_PATTERNS = {
    "private key": re.compile("-----BEGIN [A-Z ]*" + "PRIVATE KEY-----"),
    "API token": re.compile("wcr" + r"_[A-Za-z0-9_\-]{20,}"),
    "AWS access key": re.compile("(?:AKIA|ASIA)" + "[0-9A-Z]{16}"),
    "AWS secret key": re.compile(r"aws_secret_access_key\s*[=:]\s*\S{20,}", re.IGNORECASE),
    "password literal": re.compile(r"password\w*\s*[=:]\s*[\"']([^\"'\s]+)[\"']", re.IGNORECASE),
    "credentials in a URL": re.compile(r"[a-z][a-z0-9+.\-]*://[^/\s:@\"']+:([^@\s/\"']+)@"),
    "secret setting": re.compile(
        r"(?:SECRET|TOKEN|API_KEY|PRIVATE_KEY)\w*\s*[=:]\s*[\"']?([A-Za-z0-9_\-+/]{24,})", re.IGNORECASE
    ),
}
# Documented stand-ins, not secrets: the demo users' password and the README's example connection string.
PLACEHOLDERS = {"demo", "pass", "password", "secret"}
# Tests need passwords and keys of their own; they are made up for the test and guard nothing.
TEST_ONLY = ("password literal", "secret setting")


def committed_files(repo_root: Path) -> list[Path]:
    """Tracked files, and new ones not ignored (what the next commit would hold)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=repo_root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [repo_root / name for name in listed.split("\0") if name and (repo_root / name).is_file()]


def findings(path: str, text: str) -> list[str]:
    found = []
    for name, pattern in SECRET_PATTERNS.items():
        if name in TEST_ONLY and path.startswith("tests/"):
            continue
        for match in pattern.finditer(text):
            value = match.group(1) if pattern.groups else match.group()
            if value.lower() not in PLACEHOLDERS:
                found.append(f"{path}: {name}: {match.group()[:60]}")
    return found


def test_the_patterns_recognise_what_they_are_for():
    samples = {
        "private key": "-----BEGIN RSA " + "PRIVATE KEY-----",
        "API token": "wcr" + "_" + "x7Gq2mP9vL4kT8wZ1cR6yB3nH5jD0fAe",
        "AWS access key": "AKIA" + "IOSFODNN7EXAMPLE",
        "AWS secret key": "aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "password literal": 'db_password = "hunter2hunter2"',
        "credentials in a URL": "postgresql://webcare:" + "s3cr3t-Pw@db.example.nl/webcare",
        "secret setting": "WEBCARE_SECRET_KEY=" + "Zk3JqL9vR2mX8pT4wY6bN1cH5gF7dS0a",
    }
    for name, sample in samples.items():
        assert name in [f.split(": ")[1] for f in findings("service/x.py", sample)], name
    assert findings("README.md", "postgresql+psycopg://user:pass@host/db") == []
    assert findings("tests/api/test_web.py", 'log_in(client, password="wrong")') == []


def test_no_secret_is_committed(repo_root):
    files = committed_files(repo_root)
    assert any(path.name == "conftest.py" for path in files)  # the listing works
    problems = []
    for path in files:
        relative = path.relative_to(repo_root).as_posix()
        if relative in (".env", "webcare.db") or relative.endswith((".env", ".pem", ".key")):
            problems.append(f"{relative}: a file that holds secrets or data must not be committed")
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary (a model artifact, an image)
        problems += findings(relative, text)
    assert problems == []


def test_the_log_of_an_ingest_and_a_log_in_holds_no_token_password_or_personal_data(client, users, db, clock, caplog):
    password = "Tr0ub4dor&3-correct-horse"
    with Session(db) as session:
        auth.create_user(session, "anna", role=Role.agent, departments=["kcc"], password=password)
        session.commit()
    caplog.set_level(logging.DEBUG)
    token = users["feed"]["Authorization"].removeprefix("Bearer ")
    clock.set(at(17, 21, 5))

    one = client.post(
        "/api/v1/messages", json=message("m1", text=TEXT, sent_at=at(17, 21).isoformat()), headers=users["feed"]
    )
    batch = client.post(
        "/api/v1/messages/batch",
        json={"messages": [message("m2", text=TEXT, sent_at=at(17, 21).isoformat()), {"text": TEXT}]},
        headers=users["feed"],
    )
    refused = client.post(  # a refused message is logged, without its text
        "/api/v1/messages", json=message("m3", text=TEXT, sent_at=at(19, 21).isoformat()), headers=users["feed"]
    )
    assert (one.status_code, batch.status_code, refused.status_code) == (201, 200, 422)
    client.get(f"/api/v1/tickets/{one.json()['ticket']['id']}", headers=users["admin"])
    assert log_in(client, "anna", password + "-wrong").status_code == 401
    assert log_in(client, "anna", password).status_code == 303
    assert client.get("/queue").status_code == 200

    assert caplog.records  # something was logged to search
    logged = "\n".join([record.getMessage() + (record.exc_text or "") for record in caplog.records] + [caplog.text])
    for secret in (token, password, *PERSONAL.values()):
        assert secret not in logged, secret
