"""Limits at the door, as pure ASGI middleware: request body size, and request rates per token and client IP."""

import hashlib
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import audit
from service.settings import Settings

# Enough for every client of a busy day; past it the least recently seen are forgotten, so memory stays bounded
# even when a flood comes from many addresses.
MAX_KEYS = 100_000


class TokenBucket:
    """`rate` tokens a second flow into a bucket of `burst`; a request takes one or waits for the next."""

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic, max_keys=MAX_KEYS):
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.max_keys = max_keys
        # key -> (tokens, when they were counted); one event loop serves this process, so no lock is needed.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """0 when the request may go ahead (and a token is taken); otherwise the seconds until one is there."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        tokens, counted = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - counted) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return wait


@dataclass(frozen=True)
class Rule:
    name: str
    applies: Callable[[str, str], bool]  # (method, path)
    key: Callable[[Scope], str | None]  # None: this rule does not count the request
    bucket: TokenBucket


def is_ingestion(method: str, path: str) -> bool:
    return (method == "POST" and (path == "/api/v1/messages" or path.startswith("/api/v1/messages/"))) or (
        path.startswith("/webhooks/")
    )


def is_log_in(method: str, path: str) -> bool:
    return method == "POST" and path == "/login"


def client_ip(scope: Scope) -> str:
    # The audit trail's rule: X-Forwarded-For counts only from the proxies in WEBCARE_TRUSTED_PROXIES, so that
    # behind a proxy each citizen-facing client has a bucket of its own, and nobody can pick theirs.
    return audit.client_ip(Request(scope)) or "unknown"


def bearer_token_key(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                # A hash, so plain tokens are not kept in memory; unknown tokens are limited like real ones.
                return hashlib.sha256(token.strip().encode()).hexdigest()
    return None


def rules_from_settings(settings: Settings) -> list[Rule]:
    return [
        Rule(
            "ingestion per token",
            is_ingestion,
            bearer_token_key,
            TokenBucket(settings.ingest_rate_per_token, settings.ingest_burst_per_token),
        ),
        Rule(
            "ingestion per client",
            is_ingestion,
            client_ip,
            TokenBucket(settings.ingest_rate_per_ip, settings.ingest_burst_per_ip),
        ),
        Rule(
            "log-in per client",
            is_log_in,
            client_ip,
            TokenBucket(settings.login_rate_per_ip, settings.login_burst_per_ip),
        ),
    ]


async def _send_json(send: Send, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    raw = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    raw_headers += [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": raw})


class RateLimitMiddleware:
    """429 with Retry-After once a client's bucket is empty; decided before the body is read or a database is asked."""

    def __init__(self, app: ASGIApp, rules: list[Rule]):
        self.app = app
        self.rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            for rule in self.rules:
                if not rule.applies(method, path):
                    continue
                key = rule.key(scope)
                wait = rule.bucket.take(key) if key is not None else 0.0
                if wait > 0:
                    seconds = max(1, math.ceil(wait))
                    await _send_json(
                        send,
                        429,
                        {"detail": f"Too many requests ({rule.name}); try again in {seconds} s"},
                        {"Retry-After": str(seconds)},
                    )
                    return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int):
        super().__init__(413, f"The request body is larger than {limit} bytes")


class BodySizeLimitMiddleware:
    """413 for a body over the limit: at once from Content-Length, or as soon as the streamed bytes pass it."""

    def __init__(self, app: ASGIApp, *, default: int, by_path: dict[str, int] | None = None):
        self.app = app
        self.default = default
        # Longest prefix first, so /api/v1/messages/batch wins over a rule for /api/v1.
        self.by_path = sorted((by_path or {}).items(), key=lambda item: len(item[0]), reverse=True)

    def limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.by_path if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers", ())).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _send_json(send, 413, {"detail": BodyTooLarge(limit).detail}, {"Connection": "close"})
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException from reading the body on to its handler: a JSON 413.
                    raise BodyTooLarge(limit)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge as exc:
            # Raised where no handler turned it into a response (a plain ASGI route reading the body).
            if started:
                raise
            await _send_json(send, 413, {"detail": exc.detail}, {"Connection": "close"})
