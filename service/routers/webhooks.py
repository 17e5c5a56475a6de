"""The platforms' webhooks: the signature is the authentication; store first, answer 200, process after."""

import json
import logging
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import PlainTextResponse
from starlette.concurrency import run_in_threadpool

from models import Ticket
from service import inbox
from service.channels import SignatureError, meta, x
from service.configuration import PipelineConfig
from service.db import session_scope
from service.deps import NowDep, SettingsDep
from service.errors import WebcareError

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks", tags=["webhooks"])

# Meta and X send far smaller notifications; anything this big is not theirs.
MAX_BODY_BYTES = 1_000_000


def _secret(value) -> str:
    return value.get_secret_value() if value is not None else ""


async def read_body(request: Request) -> bytes:
    """The raw body (signatures are over the exact bytes), refused with 413 before it grows past the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise WebcareError(f"The body is larger than {MAX_BODY_BYTES} bytes", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise WebcareError(f"The body is larger than {MAX_BODY_BYTES} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _refuse(source: str, reason: str) -> WebcareError:
    log.warning("webhook %s refused: %s", source, reason)
    # The caller learns only that the signature did not do; the log says why.
    return WebcareError("Invalid or missing signature", 401)


async def _accept(request: Request, background: BackgroundTasks, source: str, raw_body: bytes, now) -> dict[str, Any]:
    try:
        payload = json.loads(raw_body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebcareError("The body is not JSON", 400) from exc
    if not isinstance(payload, dict):
        raise WebcareError("The body is not a JSON object", 400)
    engine = request.app.state.engine

    def store() -> int | None:
        with session_scope(engine) as session:
            event = inbox.store(session, source, raw_body, payload, now=now)
            return event.id if event is not None else None

    # Stored and committed before the answer: a platform that got 200 never has to send it again.
    event_id = await run_in_threadpool(store)
    if event_id is None:
        return {"stored": False, "duplicate": True}
    background.add_task(_process, request.app, event_id, now)
    return {"stored": True, "duplicate": False}


def _process(app, event_id: int, now) -> None:
    def count(ticket: Ticket, config: PipelineConfig) -> None:
        app.state.metrics.tickets_created.labels(
            ticket.category, config.slug(ticket.department_id), ticket.channel
        ).inc()
        app.state.metrics.confidence.labels(ticket.category).observe(ticket.confidence)

    try:
        inbox.process(
            app.state.engine,
            event_id,
            classifier=app.state.classifier,
            settings=app.state.settings,
            now=now,
            on_new_ticket=count,
        )
    except Exception as exc:  # the worker's inbox sweep takes the event up again
        log.error("webhook event %s: processing failed (%s); the worker will retry", event_id, type(exc).__name__)


@router.get("/meta", response_class=PlainTextResponse)
def verify_meta_subscription(request: Request, settings: SettingsDep) -> PlainTextResponse:
    """Meta's subscription handshake: echo hub.challenge when hub.verify_token is ours."""
    challenge = meta.verification_challenge(dict(request.query_params), _secret(settings.meta_verify_token))
    if challenge is None:
        if settings.meta_verify_token is None:
            log.error("webhook meta: WEBCARE_META_VERIFY_TOKEN is not set, so Meta's handshake cannot succeed")
        return PlainTextResponse("Verification failed", status_code=403)
    return PlainTextResponse(challenge)


@router.post("/meta")
async def receive_meta(request: Request, background: BackgroundTasks, settings: SettingsDep, now: NowDep) -> dict:
    """WhatsApp, Facebook Page, Messenger and Instagram notifications, signed with X-Hub-Signature-256."""
    secret = _secret(settings.meta_app_secret)
    if not secret:
        log.error("webhook meta: WEBCARE_META_APP_SECRET is not set; every notification is refused")
        raise WebcareError("Invalid or missing signature", 401)
    raw_body = await read_body(request)
    try:
        meta.verify_signature(raw_body, request.headers.get(meta.SIGNATURE_HEADER), secret)
    except SignatureError as exc:
        raise _refuse("meta", str(exc)) from exc
    return await _accept(request, background, "meta", raw_body, now)


@router.get("/x")
def answer_x_crc(crc_token: Annotated[str, Query(min_length=1)], settings: SettingsDep) -> dict[str, str]:
    """X's challenge-response check: proves we hold the consumer secret."""
    try:
        return x.crc_response(crc_token, _secret(settings.x_consumer_secret))
    except SignatureError as exc:
        log.error("webhook x: WEBCARE_X_CONSUMER_SECRET is not set, so X's CRC check cannot succeed")
        raise WebcareError("The X consumer secret is not configured", 401) from exc


@router.post("/x")
async def receive_x(request: Request, background: BackgroundTasks, settings: SettingsDep, now: NowDep) -> dict:
    """X Account Activity events, signed with x-twitter-webhooks-signature."""
    secret = _secret(settings.x_consumer_secret)
    if not secret:
        log.error("webhook x: WEBCARE_X_CONSUMER_SECRET is not set; every event is refused")
        raise WebcareError("Invalid or missing signature", 401)
    raw_body = await read_body(request)
    try:
        x.verify_signature(raw_body, request.headers.get(x.SIGNATURE_HEADER), secret)
    except SignatureError as exc:
        raise _refuse("x", str(exc)) from exc
    return await _accept(request, background, "x", raw_body, now)
