"""Privacy for admins: a message's kept original text, and a citizen's data exported or erased."""

from typing import Any

from fastapi import APIRouter, Request
from sqlmodel import Field, SQLModel

from models import Channel, Message
from service import audit, crypto, retention
from service.deps import Admin, NowDep, SessionDep, SettingsDep
from service.errors import NotFound
from service.routers import API_PREFIX

router = APIRouter(prefix=API_PREFIX, tags=["privacy"])


class OriginalText(SQLModel):
    message_id: int
    text: str


class ErasureRequest(SQLModel):
    handle: str = Field(min_length=1, max_length=200)
    channel: Channel | None = None


@router.get("/messages/{message_id}/original", response_model=OriginalText, responses={404: {}, 409: {}})
def read_original_text(
    request: Request, message_id: int, session: SessionDep, settings: SettingsDep, now: NowDep, user: Admin
) -> OriginalText:
    """The unmasked text, where WEBCARE_KEEP_ORIGINAL_TEXT kept it (encrypted); every read is audited."""
    message = session.get(Message, message_id)
    if message is None or message.original_text_encrypted is None:
        raise NotFound(f"no original text is kept for message {message_id}")
    text = crypto.decrypt(settings, message.original_text_encrypted)
    audit.record(
        session,
        user=user,
        action="read_original",
        object_type="message",
        object_id=message.id,
        ip=audit.client_ip(request),
        detail={"ticket_id": message.ticket_id},
        at=now,
    )
    return OriginalText(message_id=message.id, text=text)


@router.get("/privacy/export")
def export_citizen_data(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
    user: Admin,
    handle: str,
    channel: Channel | None = None,
) -> dict[str, Any]:
    """Everything stored about a handle (tickets, messages, timelines, deliveries), for a request of access."""
    document = retention.export_handle(session, settings, handle=handle, channel=channel, now=now)
    retention.record_export(session, document, user=user, ip=audit.client_ip(request), now=now)
    return document


@router.post("/privacy/erase", responses={409: {"description": "The handle still has open tickets"}})
def erase_citizen_data(request: Request, body: ErasureRequest, session: SessionDep, now: NowDep, user: Admin) -> dict:
    """Anonymise everything stored about a handle at once; texts become "[verwijderd op verzoek]"."""
    return retention.erase_handle(
        session, handle=body.handle, channel=body.channel, now=now, user=user, ip=audit.client_ip(request)
    )
