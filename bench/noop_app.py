"""The framework's limit: our middleware around an endpoint that validates a message and stores nothing.

Served exactly as `webcare serve` serves the real app (same logging set-up and uvicorn settings), so the ratio of
the real app's rate to this one's shows how much of the time is ours and how much is FastAPI and uvicorn's.
"""

import argparse
import logging
import time
import uuid
from typing import Annotated

import uvicorn
from fastapi import Depends, FastAPI, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from models import MessageCreate
from service.errors import WebcareError
from service.metrics import Metrics

log = logging.getLogger("webcare")
_bearer = HTTPBearer(auto_error=False)


def create_app() -> FastAPI:
    app = FastAPI(title="no-op")
    app.state.metrics = Metrics(lambda: None)

    @app.get("/readyz")
    def readyz() -> dict:
        return {"ready": True}

    @app.post("/api/v1/messages", status_code=status.HTTP_201_CREATED)
    def create_message(
        body: MessageCreate, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> dict:
        # The same body validation and a response of the same shape; no database, no model.
        return {"created": True, "message_id": 1, "ticket": {"id": 1, "channel": body.channel, "department": "kcc"}}

    @app.exception_handler(WebcareError)
    async def webcare_error(request: Request, exc: WebcareError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error (request %s)", request.state.request_id)
        return JSONResponse({"detail": "Internal error", "request_id": request.state.request_id}, status_code=500)

    @app.middleware("http")
    async def request_context(request: Request, call_next):
        # A copy of service.app's middleware: request id, timing, the Prometheus histogram, one log line.
        request.state.request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        started = time.perf_counter()
        response = await call_next(request)
        elapsed = time.perf_counter() - started
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
            elapsed * 1000,
            request.state.request_id,
        )
        return response

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # What service.cli does for `webcare serve`.
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        "noop_app:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="info",
        timeout_graceful_shutdown=30,
    )


if __name__ == "__main__":
    main()
