"""The FastAPI application: built by create_app(), engine and classifier made once in the lifespan."""

import asyncio
import ctypes
import logging
import time
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool

from classifier import Classifier, ModelError, load_model
from models import ApiToken, ReplyTemplate, Ticket
from service import audit, modelops, web, worker
from service.db import create_db_engine
from service.errors import WebcareError
from service.metrics import Metrics
from service.ratelimit import BodySizeLimitMiddleware, RateLimitMiddleware, rules_from_settings
from service.routers import audit as audit_routes
from service.routers import (
    deliveries,
    departments,
    messages,
    queue,
    reports,
    templates,
    tickets,
    tokens,
    webhooks,
)
from service.routers import privacy as privacy_routes
from service.settings import Settings, get_settings

log = logging.getLogger("webcare")
MODEL_CHECK_SECONDS = 30


def load_classifier(path) -> Classifier:
    """Load the model, then hand the memory that loading used and freed back to the operating system: glibc keeps
    it otherwise, and every serving process would stay some 50 MB larger than it needs to be."""
    model = load_model(path)
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to give back this way
        pass
    return model


def create_app(settings: Settings | None = None, *, classifier: Classifier | None = None) -> FastAPI:
    """The app; tests may pass their own settings and a stand-in classifier."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.engine = create_db_engine(settings)
        # In the main thread, before serving: its memory comes from the main arena, which glibc trims best.
        app.state.classifier = classifier or load_classifier(settings.model_path)
        log.info(
            "webcare ready: database %s, model %s",
            app.state.engine.url.render_as_string(hide_password=True),
            app.state.classifier.version,
        )
        stop = asyncio.Event()
        tasks = []
        if settings.run_worker_in_process:
            # A getter: the model can be replaced while serving.
            jobs = worker.background_loop(app.state.engine, settings, stop, lambda: app.state.classifier)
            tasks.append(asyncio.create_task(jobs))
        if classifier is None:
            tasks.append(asyncio.create_task(_follow_active_model(app, settings, stop)))
        yield
        stop.set()
        await asyncio.gather(*tasks)
        app.state.engine.dispose()

    app = FastAPI(
        title="Webcare router",
        version="0.1.0",
        description="Routes citizens' social-media messages to the team that should answer them, on time.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = Metrics(lambda: getattr(app.state, "engine", None))
    audit.install()

    # These routers' handlers do not write the audit trail themselves: it is taken from what they change.
    audited = {
        id(templates.router): [audit.changes_of({ReplyTemplate: "template"})],
        id(queue.router): [audit.changes_of({Ticket: "ticket"}, action="claim")],
        id(tokens.router): [audit.changes_of({ApiToken: "token"})],
        id(reports.router): [audit.exports_of("report")],
    }
    for router in (
        messages.router,
        tickets.router,
        queue.router,
        templates.router,
        reports.router,
        departments.router,
        deliveries.router,
        webhooks.router,
        tokens.router,
        audit_routes.router,
        privacy_routes.router,
    ):
        app.include_router(router, dependencies=audited.get(id(router), []))
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")
    _add_health(app)
    _add_error_handlers(app)
    # Inside the request context (so refusals get a request id, a log line and metrics), outside everything
    # else: an oversized body or a flood is turned away before a byte is parsed or a database is asked.
    app.add_middleware(RateLimitMiddleware, rules=rules_from_settings(settings))
    app.add_middleware(
        BodySizeLimitMiddleware, default=settings.max_body_bytes, by_path=settings.max_body_bytes_by_path
    )
    _add_security_headers(app)
    _add_request_context(app)
    return app


async def _follow_active_model(app: FastAPI, settings: Settings, stop: asyncio.Event) -> None:
    """Pick up a newly activated (or rolled back) model without a restart."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=MODEL_CHECK_SECONDS)
            return
        except TimeoutError:
            pass
        try:
            version = await run_in_threadpool(modelops.active_version, settings)
            if version and version != app.state.classifier.version:
                app.state.classifier = await run_in_threadpool(load_classifier, settings.model_path)
                log.info("now classifying with model %s", app.state.classifier.version)
        except ModelError as exc:
            log.error("keeping model %s: the active model cannot be loaded: %s", app.state.classifier.version, exc)


def _add_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["health"], response_class=PlainTextResponse)
    def metrics(request: Request) -> PlainTextResponse:
        """Prometheus metrics (keep this endpoint on the internal network)."""
        return PlainTextResponse(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/readyz", tags=["health"])
    def readyz(request: Request) -> JSONResponse:
        """Ready to take traffic: the database answers and a model is loaded."""
        checks = {
            "database": "ok",
            "model": getattr(request.app.state, "classifier", None) and request.app.state.classifier.version,
        }
        try:
            with request.app.state.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except OperationalError as exc:
            log.warning("readiness: database unreachable: %s", exc.orig)
            checks["database"] = "unreachable"
        ready = checks["database"] == "ok" and bool(checks["model"])
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(WebcareError)
    async def webcare_error(request: Request, exc: WebcareError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(IntegrityError)
    async def integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error (request %s): %s", request.state.request_id, exc.orig)
        return JSONResponse({"detail": "This conflicts with data that already exists"}, status_code=409)

    @app.exception_handler(OperationalError)
    async def database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database unavailable (request %s): %s", request.state.request_id, exc.orig)
        return JSONResponse(
            {"detail": "The database is unavailable; try again shortly", "request_id": request.state.request_id},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(DataError)
    @app.exception_handler(OverflowError)
    async def unstorable_value(request: Request, exc: Exception) -> JSONResponse:
        # A value the database cannot take or compare: a NUL character in text (PostgreSQL), an id or offset
        # beyond its integers. The request's fault, so 422 in the shape of a validation error; logged, because
        # the better place to refuse it is the request's own validation.
        log.warning("value refused by the database (request %s): %s", request.state.request_id, exc)
        message = "A value in the request cannot be stored or looked up (a NUL character, or a number out of range)"
        return JSONResponse({"detail": [{"loc": ["request"], "msg": message, "type": "value_error"}]}, status_code=422)

    @app.exception_handler(InterfaceError)
    async def database_connection_lost(request: Request, exc: InterfaceError) -> JSONResponse:
        # A connection that the server closed under us (a restart): the same as unavailable, not a bug.
        return await database_unavailable(request, exc)

    @app.exception_handler(PoolTimeout)
    async def database_busy(request: Request, exc: PoolTimeout) -> JSONResponse:
        # Every pooled connection stayed busy for the pool timeout: overload, which a client should retry.
        log.error("database busy (request %s): no free connection in the pool", request.state.request_id)
        return JSONResponse(
            {"detail": "The service is busy; try again shortly", "request_id": request.state.request_id},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error (request %s)", request.state.request_id)
        return JSONResponse(
            {"detail": "Internal error; it has been logged", "request_id": request.state.request_id},
            status_code=500,
        )


# Every answer, API or page: no MIME sniffing, no referrer leaving the site, never inside a frame.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
HSTS = "max-age=31536000; includeSubDomains"


def _served_over_https(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    # Behind a TLS-terminating proxy, but only one we trust to say so.
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    peer = request.client.host if request.client else None
    proxies = request.app.state.settings.trusted_proxies
    return forwarded == "https" and peer is not None and audit.is_trusted(peer, proxies)


def _add_security_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        # Only over https: sent over plain http it would be ignored, or lock a development host out of http.
        if _served_over_https(request):
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response


def _add_request_context(app: FastAPI) -> None:
    @app.middleware("http")
    async def request_context(request: Request, call_next):
        request.state.request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
        elapsed_ms = elapsed * 1000
        response.headers["X-Request-ID"] = request.state.request_id
        route = request.scope.get("route")
        request.app.state.metrics.requests.labels(
            request.method, getattr(route, "path", "unmatched"), str(response.status_code)
        ).observe(elapsed)
        log.info(
            "%s %s -> %s in %.1f ms (request %s)",
            request.method,
            request.url.path,
            response.status_code,
            elapsed_ms,
            request.state.request_id,
        )
        return response
