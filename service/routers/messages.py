"""Taking citizens' messages in: one at a time or in batches."""

import logging

from fastapi import APIRouter, Request, Response, status
from pydantic import ValidationError

from models import BatchItemError, BatchResult, IngestResult, MessageBatch, MessageCreate
from service import ingestion, tickets
from service.configuration import PipelineConfig, load_pipeline_config
from service.deps import ClassifierDep, Ingestor, NowDep, SessionDep, SettingsDep
from service.errors import WebcareError
from service.routers import API_PREFIX

log = logging.getLogger(__name__)
router = APIRouter(prefix=f"{API_PREFIX}/messages", tags=["messages"])


def known_slugs(config: PipelineConfig) -> dict[int, str]:
    return {department_id: department.slug for department_id, department in config.departments.items()}


def count_new_ticket(request: Request, result: ingestion.Ingested, config) -> None:
    if result.new_ticket:
        ticket = result.ticket
        request.app.state.metrics.tickets_created.labels(
            ticket.category, config.slug(ticket.department_id), ticket.channel
        ).inc()
        request.app.state.metrics.confidence.labels(ticket.category).observe(ticket.confidence)


@router.post(
    "",
    response_model=IngestResult,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": IngestResult, "description": "Already received: the same ticket, nothing written"}},
)
def create_message(
    request: Request,
    body: MessageCreate,
    response: Response,
    session: SessionDep,
    classifier: ClassifierDep,
    settings: SettingsDep,
    now: NowDep,
    _user: Ingestor,
) -> IngestResult:
    config = load_pipeline_config(session, settings)
    result = ingestion.ingest(session, body, classifier=classifier, config=config, settings=settings, now=now)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    count_new_ticket(request, result, config)
    ticket = result.ticket
    shown = tickets.to_public(
        session,
        [ticket],
        slugs=known_slugs(config),
        # A new ticket's first message is this one.
        previews={ticket.id: result.message.text} if result.new_ticket else None,
    )[0]
    return IngestResult(created=result.created, message_id=result.message.id, ticket=shown)


@router.post("/batch", response_model=BatchResult)
def create_messages(
    request: Request,
    body: MessageBatch,
    session: SessionDep,
    classifier: ClassifierDep,
    settings: SettingsDep,
    now: NowDep,
    _user: Ingestor,
) -> BatchResult:
    """Up to 500 messages; each gets its own result, in input order, and a bad one does not stop the others.

    Each result shows its ticket as it is after the whole batch."""
    config = load_pipeline_config(session, settings)
    valid: dict[int, MessageCreate] = {}
    errors: dict[int, BatchItemError] = {}
    for position, raw in enumerate(body.messages):
        try:
            valid[position] = MessageCreate.model_validate(raw)
        except ValidationError as exc:
            errors[position] = BatchItemError(error=exc.errors(include_url=False, include_context=False))
    batch = list(valid.values())
    results = ingestion.ingest_batch(
        session,
        batch,
        classifier=ingestion.BatchClassifier(classifier, batch),
        config=config,
        settings=settings,
        now=now,
    )
    ingested: dict[int, ingestion.Ingested] = {}
    for position, result in zip(valid, results, strict=True):
        if isinstance(result, WebcareError):
            errors[position] = BatchItemError(error=result.message)
            continue
        count_new_ticket(request, result, config)
        ingested[position] = result
    shown = {
        t.id: t
        for t in tickets.to_public(
            session,
            list({r.ticket.id: r.ticket for r in ingested.values()}.values()),
            slugs=known_slugs(config),
            previews={r.ticket.id: r.message.text for r in ingested.values() if r.new_ticket},
        )
    }
    return BatchResult(
        results=[
            errors[position]
            if position in errors
            else IngestResult(
                created=ingested[position].created,
                message_id=ingested[position].message.id,
                ticket=shown[ingested[position].ticket.id],
            )
            for position in range(len(body.messages))
        ]
    )
