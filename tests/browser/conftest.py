"""Browser tests: the real app under uvicorn on a free port, driven by Debian's Chromium through Playwright."""

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright
from sqlalchemy import Engine
from sqlmodel import Session

from models import Role
from service import auth
from service.app import create_app
from service.configuration import apply_config, read_config_file
from service.db import create_db_engine
from service.migrations import upgrade
from tests.conftest import IN_CI, KeywordClassifier, empty_tables, make_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
LAPTOP = {"width": 1366, "height": 768}
PASSWORD = "correct horse battery staple"


# The app ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_database_url(tmp_path_factory) -> str:
    """A SQLite database of its own, migrated to head (the browser tests need no PostgreSQL)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'webcare.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def browser_engine(browser_database_url) -> Iterator[Engine]:
    engine = create_db_engine(make_settings(browser_database_url))
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def live_server(browser_database_url) -> Iterator[str]:
    """The whole app, with the deterministic stand-in classifier, served by uvicorn in a background thread."""
    app = create_app(make_settings(browser_database_url), classifier=KeywordClassifier())
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the app did not start under uvicorn")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    listener.close()


@dataclass
class Site:
    """The running app with a freshly seeded database: people who can log in, and a way to post messages."""

    url: str
    engine: Engine
    feed_token: str

    def add_agent(self, username: str, *departments: str, role: Role = Role.agent, full_name: str | None = None):
        with Session(self.engine) as session:
            auth.create_user(
                session, username, role=role, departments=list(departments), password=PASSWORD, full_name=full_name
            )
            session.commit()

    def post_message(self, external_id: str, text: str, *, minutes_ago: float, author: str = "Jan Burger") -> dict:
        sent_at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
        body = {
            "channel": "x",
            "external_id": external_id,
            "author_handle": "@" + author.split()[0].lower(),
            "author_name": author,
            "text": text,
            "sent_at": sent_at.isoformat(),
        }
        request = urllib.request.Request(
            f"{self.url}/api/v1/messages",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.feed_token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["ticket"]

    def get(self, path: str) -> dict:
        request = urllib.request.Request(
            f"{self.url}/api/v1{path}", headers={"Authorization": f"Bearer {self.feed_token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


@pytest.fixture
def site(live_server, browser_engine) -> Site:
    """The default configuration, an integration user to feed messages in, and nothing else."""
    empty_tables(browser_engine)
    with Session(browser_engine) as session:
        apply_config(session, read_config_file())
        auth.create_user(session, "feed", role=Role.admin)
        token = auth.create_token(session, "feed")
        session.commit()
    return Site(live_server, browser_engine, token)


# The browser --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"Chromium is not installed at {CHROMIUM} (`make chromium` installs Debian's package)"
        if IN_CI:
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser) -> Iterator:
    """Pages in separate browser contexts (separate cookie jars: separate people).

    A script error or a blocked resource (Content-Security-Policy) in any page fails the test.
    """
    contexts = []
    problems: list[str] = []

    def watch(page: Page) -> None:
        page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(f"{page.url}: {message.text}")
                if message.type == "error" and "Failed to load resource" not in message.text
                else None
            ),
        )

    def open_page(**options) -> Page:
        # The computer's own zone is not Amsterdam: the pages must show Amsterdam time anyway.
        context = browser.new_context(viewport=LAPTOP, locale="nl-NL", timezone_id="America/New_York", **options)
        context.set_default_timeout(10_000)
        context.on("page", watch)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
    assert problems == []


@pytest.fixture(scope="session")
def artifacts(repo_root) -> Path:
    folder = repo_root / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder


def log_in(page: Page, base_url: str, username: str, *, start: str = "/queue") -> None:
    page.goto(base_url + start)
    expect(page).to_have_url(f"{base_url}/login?next={quote(start, safe='')}")
    page.get_by_label("Gebruikersnaam").fill(username)
    page.get_by_label("Wachtwoord").fill(PASSWORD)
    page.get_by_role("button", name="Inloggen").click()
    expect(page).to_have_url(base_url + start)
