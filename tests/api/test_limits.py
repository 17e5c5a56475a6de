"""Limits at the door: oversized bodies get 413 before they are read, floods get 429 with Retry-After."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.deps import get_now
from service.ratelimit import BodySizeLimitMiddleware, TokenBucket, rules_from_settings
from service.settings import Settings
from tests.api.test_messages import message
from tests.conftest import make_settings


@pytest.fixture
def limited(db, database_url, stand_in, clock):
    """Makes a client for an app with the given settings (the other fixtures' app has the defaults)."""

    @contextmanager
    def make(**overrides) -> Iterator[TestClient]:
        app = create_app(make_settings(database_url, **overrides), classifier=stand_in)
        app.dependency_overrides[get_now] = clock
        with TestClient(app) as client:
            yield client

    return make


def chunks(total: int, size: int = 64 * 1024):
    """A streamed body without Content-Length (chunked), as a client that hides its size sends it."""
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


# Body size ----------------------------------------------------------------------------------------


def test_a_body_declared_too_large_is_refused_before_authentication(client, users):
    body = json.dumps(message(text="x" * 1_000_001)).encode()

    anonymous = client.post("/api/v1/messages", content=body, headers={"Content-Type": "application/json"})
    as_feed = client.post(
        "/api/v1/messages", content=body, headers={"Content-Type": "application/json", **users["feed"]}
    )

    for response in (anonymous, as_feed):
        assert response.status_code == 413
        assert response.json() == {"detail": "The request body is larger than 1000000 bytes"}


@pytest.mark.parametrize("path", ["/api/v1/messages", "/api/v1/tickets/1/notes", "/webhooks/meta", "/login"])
def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(limited, users, path):
    content_type = "application/x-www-form-urlencoded" if path == "/login" else "application/json"
    with limited(meta_app_secret="webhook-secret") as client:
        response = client.post(path, content=chunks(1_200_000), headers={"Content-Type": content_type, **users["feed"]})

    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is larger than 1000000 bytes"}


def test_the_batch_endpoint_takes_a_full_batch_of_long_messages(client, users):
    # An unknown channel makes every item a quick per-item error: what is tested is that the body gets in.
    batch = {"messages": [message(f"b{i}", text="x" * 10_000, channel="fax") for i in range(500)]}
    body = json.dumps(batch).encode()
    assert 5_000_000 < len(body) < 8_000_000

    response = client.post(
        "/api/v1/messages/batch", content=body, headers={"Content-Type": "application/json", **users["feed"]}
    )

    assert response.status_code == 200
    assert [r["error"][0]["loc"] for r in response.json()["results"]] == [["channel"]] * 500


def test_limits_are_set_per_path(limited, users):
    with limited(max_body_bytes=2_000, max_body_bytes_by_path={"/api/v1/messages/batch": 50_000}) as client:
        single = client.post("/api/v1/messages", json=message(text="x" * 3_000), headers=users["feed"])
        batch = client.post(
            "/api/v1/messages/batch",
            json={"messages": [message(f"b{i}", text="kapot " + "x" * 3_000) for i in range(10)]},
            headers=users["feed"],
        )
        too_big_batch = client.post(
            "/api/v1/messages/batch",
            json={"messages": [message(f"c{i}", text="x" * 3_000) for i in range(20)]},
            headers=users["feed"],
        )

    assert single.status_code == 413
    assert batch.status_code == 200
    assert too_big_batch.status_code == 413


def test_the_longest_matching_prefix_decides():
    middleware = BodySizeLimitMiddleware(None, default=10, by_path={"/api": 20, "/api/v1/messages/batch": 30})
    assert [middleware.limit_for(p) for p in ("/login", "/api/v1/tickets", "/api/v1/messages/batch")] == [10, 20, 30]


# Rate limits --------------------------------------------------------------------------------------


def test_a_token_bucket_allows_its_burst_then_refills_at_its_rate():
    now = [0.0]
    bucket = TokenBucket(rate=2, burst=3, clock=lambda: now[0])

    assert [bucket.take("a") for _ in range(3)] == [0, 0, 0]
    assert bucket.take("a") == 0.5  # empty: the next token comes in half a second
    assert bucket.take("b") == 0  # every key has its own bucket
    now[0] = 0.5
    assert bucket.take("a") == 0
    now[0] = 100
    assert [bucket.take("a") for _ in range(4)] == [0, 0, 0, 0.5]  # never more than the burst


def test_a_token_bucket_forgets_the_least_recently_seen_keys_past_its_size():
    bucket = TokenBucket(rate=1, burst=1, clock=lambda: 0.0, max_keys=2)
    bucket.take("a")
    bucket.take("b")
    bucket.take("c")
    assert bucket.take("a") == 0  # forgotten, so it starts with a full bucket again
    assert bucket.take("c") == 1


def test_a_rate_of_zero_switches_the_limit_off():
    bucket = TokenBucket(rate=0, burst=1)
    assert [bucket.take("a") for _ in range(1000)] == [0] * 1000


def test_ingestion_is_limited_per_token(limited, users):
    # Rates this slow refill nothing while the test runs, so the answers do not depend on the machine's speed.
    with limited(ingest_rate_per_token=0.001, ingest_burst_per_token=3) as client:
        answers = [
            client.post("/api/v1/messages", json=message(f"m{i}"), headers=users["feed"]).status_code for i in range(4)
        ]
        refused = client.post("/api/v1/messages/batch", json={"messages": []}, headers=users["feed"])
        other_token = client.post("/api/v1/messages", json=message("a1"), headers=users["admin"])
        reading = client.get("/api/v1/tickets", headers=users["admin"])

    assert answers == [201, 201, 201, 429]
    assert refused.status_code == 429
    wait = int(refused.headers["retry-after"])
    assert 990 <= wait <= 1000
    assert refused.json()["detail"] == f"Too many requests (ingestion per token); try again in {wait} s"
    assert other_token.status_code == 201
    assert reading.status_code == 200  # only ingestion is limited


def test_ingestion_and_webhooks_are_limited_per_client_address(limited, users):
    with limited(ingest_rate_per_ip=0.001, ingest_burst_per_ip=3, meta_app_secret="webhook-secret") as client:
        answers = [
            client.post("/api/v1/messages", json=message("m1"), headers=users["feed"]).status_code,
            client.post("/api/v1/messages", json=message("m2"), headers=users["admin"]).status_code,
            client.post("/webhooks/meta", content=b"{}").status_code,  # unsigned
            client.post("/webhooks/meta", content=b"{}").status_code,
            client.post("/api/v1/messages", json=message("m3"), headers=users["admin"]).status_code,
        ]
        refused = client.post("/api/v1/messages", json=message("m4"), headers=users["feed"])

    assert answers == [201, 201, 401, 429, 429]
    assert 990 <= int(refused.headers["retry-after"]) <= 1000


def test_log_in_attempts_are_limited_per_client_address(limited):
    with limited(login_rate_per_ip=0.001, login_burst_per_ip=3) as client:
        answers = [
            client.post("/login", data={"username": "someone", "password": "guess"}).status_code for _ in range(4)
        ]
        refused = client.post("/login", data={"username": "someone", "password": "guess"})
        page = client.get("/login")

    assert answers == [403, 403, 403, 429]  # 403: no CSRF token; still an attempt that counts
    assert 990 <= int(refused.headers["retry-after"]) <= 1000
    assert page.status_code == 200


def test_the_defaults_leave_room_for_a_busy_integration():
    """A hundred calls at once from one token, then twenty a second, from one address two hundred at once."""
    per_token, per_address, log_in = (rule.bucket for rule in rules_from_settings(Settings(_env_file=None)))
    now = [0.0]
    for bucket in (per_token, per_address, log_in):
        bucket.clock = lambda: now[0]
    assert [per_token.take("feed") for _ in range(100)] == [0] * 100
    assert per_token.take("feed") == 0.05
    now[0] = 10
    assert [per_token.take("feed") for _ in range(100)] == [0] * 100  # refilled at 20 a second
    assert [per_address.take("10.1.2.3") for _ in range(200)] == [0] * 200
    assert [log_in.take("10.1.2.3") for _ in range(10)] == [0] * 10
    assert log_in.take("10.1.2.3") == pytest.approx(6.0)  # then one attempt every six seconds


def test_behind_a_trusted_proxy_each_forwarded_client_has_a_bucket_of_its_own(db, database_url, stand_in):
    settings = make_settings(
        database_url, login_rate_per_ip=0.001, login_burst_per_ip=1, trusted_proxies=["10.0.0.0/8"]
    )

    def attempt(client: TestClient, forwarded_for: str) -> int:
        form = {"username": "someone", "password": "guess"}
        return client.post("/login", data=form, headers={"X-Forwarded-For": forwarded_for}).status_code

    with TestClient(create_app(settings, classifier=stand_in), client=("10.0.0.2", 50000)) as proxy:
        assert [attempt(proxy, "198.51.100.7"), attempt(proxy, "203.0.113.9"), attempt(proxy, "198.51.100.7")] == [
            403,
            403,
            429,
        ]
    with TestClient(create_app(settings, classifier=stand_in), client=("192.0.2.1", 50000)) as direct:
        # Not a trusted proxy: what it claims to forward for is ignored, the address itself is limited.
        assert [attempt(direct, "198.51.100.1"), attempt(direct, "198.51.100.2")] == [403, 429]
