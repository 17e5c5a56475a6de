"""Sending one delivery over HTTP: reports to Signalen, Open311 or a signed webhook; replies through the platforms."""

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2 as httpx

from models import Delivery, utcnow
from service.duplicates import street_address
from service.settings import DeliveryTarget, Settings

CHANNEL_TIMEOUT_SECONDS = 10.0
# A webhook receiver refuses signatures older than this (replayed requests).
SIGNATURE_TOLERANCE = timedelta(minutes=5)
MESSAGE_LENGTH = 200
SIGNALEN_TEXT_LENGTH = 3000
OPEN311_DESCRIPTION_LENGTH = 4000
# Signalen only accepts sources it knows; "online" is the one every installation has for its public form.
SIGNALEN_SOURCE = "online"
REPORT = "report"


@dataclass(frozen=True)
class Result:
    """What one attempt achieved: delivered (with the receiver's id), or failed (retried unless permanent)."""

    delivered: bool
    remote_id: str | None = None
    error: str | None = None
    permanent: bool = False
    retry_after: timedelta | None = None


class NotConfigured(Exception):
    """The target or platform lacks settings: retried like any failure, so nothing is dropped while it is fixed."""


class CannotSend(Exception):
    """This delivery can never be sent as it is (no adapter, nothing to reply to): dead at once."""


@dataclass(frozen=True)
class Outgoing:
    method: str
    url: str
    headers: dict[str, str]
    timeout: float
    # The receiver's id for what we sent, read from its JSON answer.
    remote_id: Callable[[Any], Any]
    json: Any = None
    data: dict[str, str] | None = None
    content: bytes | None = None


def send(delivery: Delivery, settings: Settings, *, client: httpx.Client | None = None) -> Result:
    """One attempt at one delivery; never raises for the receiver's or the network's failures."""
    try:
        outgoing = build(delivery, settings)
    except NotConfigured as exc:
        return Result(False, error=str(exc))
    except CannotSend as exc:
        return Result(False, error=str(exc), permanent=True)
    except (LookupError, TypeError, ValueError) as exc:
        # A payload without the fields its format needs will not grow them by waiting.
        return Result(False, error=f"malformed payload: {type(exc).__name__} {exc}"[:MESSAGE_LENGTH], permanent=True)
    try:
        if client is None:
            with httpx.Client() as own:
                response = _request(own, outgoing)
        else:
            response = _request(client, outgoing)
    except httpx.TimeoutException:
        return Result(False, error=f"no answer within {outgoing.timeout:g} s")
    except httpx.HTTPError as exc:
        # The exception names the failure (refused, reset, DNS); it never carries our headers or body.
        return Result(False, error=f"{type(exc).__name__}: {exc}"[:MESSAGE_LENGTH])
    return interpret(response, outgoing.remote_id)


def _request(client: httpx.Client, outgoing: Outgoing) -> httpx.Response:
    return client.request(
        outgoing.method,
        outgoing.url,
        headers=outgoing.headers,
        json=outgoing.json,
        data=outgoing.data,
        content=outgoing.content,
        timeout=outgoing.timeout,
    )


def interpret(response: httpx.Response, remote_id: Callable[[Any], Any]) -> Result:
    """2xx delivered; 408, 429 and 5xx retried (429 after its Retry-After); other 3xx and 4xx are permanent."""
    status = response.status_code
    if 200 <= status < 300:
        try:
            found = remote_id(response.json())
        except (ValueError, LookupError, TypeError, AttributeError):
            found = None
        return Result(True, remote_id=str(found)[:200] if found not in (None, "") else None)
    if 300 <= status < 400:
        where = response.headers.get("location", "?")
        return Result(False, error=f"HTTP {status}: redirected to {where}; fix the target URL", permanent=True)
    error = f"HTTP {status}: {receiver_message(response)}"
    if status in (408, 429):
        return Result(False, error=error, retry_after=retry_after(response) if status == 429 else None)
    return Result(False, error=error, permanent=400 <= status < 500)


def receiver_message(response: httpx.Response) -> str:
    """The receiver's own words about what went wrong, short."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, list) and body:
        body = body[0]  # Open311 answers a list of errors
    message = None
    if isinstance(body, dict):
        for key in ("detail", "message", "description", "error", "title", "errors"):
            value = body.get(key)
            if isinstance(value, dict):  # Meta: {"error": {"message": ...}}
                value = value.get("message") or value.get("detail")
            if value:
                message = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                break
    if message is None:
        message = response.text or response.reason_phrase or "no message"
    return " ".join(message.split())[:MESSAGE_LENGTH]


def retry_after(response: httpx.Response) -> timedelta | None:
    """Retry-After as seconds or an HTTP date."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return timedelta(seconds=int(value))
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(moment - utcnow(), timedelta(0))


def build(delivery: Delivery, settings: Settings) -> Outgoing:
    if delivery.kind == REPORT:
        target = settings.delivery_targets.get(delivery.target)
        if target is None:
            raise NotConfigured(
                f"delivery target '{delivery.target}' is not configured: add it to WEBCARE_DELIVERY_TARGETS"
            )
        return REPORT_FORMATS[target.format](delivery, target)
    channel = CHANNELS.get(delivery.target)
    if channel is None:
        raise CannotSend(f"replies on channel '{delivery.target}' are not sent by webcare: answer the citizen directly")
    return channel(delivery, settings)


def _headers(delivery: Delivery, token: str | None = None) -> dict[str, str]:
    # Every request carries the key, so a receiver can drop a repeat after a worker died mid-send.
    headers = {"Idempotency-Key": delivery.idempotency_key, "User-Agent": "webcare-router"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _secret(target: DeliveryTarget) -> str | None:
    return target.secret.get_secret_value() if target.secret else None


def _with_reference(payload: dict, limit: int) -> str:
    reference = f"\n\n[webcare ticket {payload.get('ticket_id')}]"
    if payload.get("permalink"):
        reference += f"\n{payload['permalink']}"
    text = str(payload.get("text") or "")
    return text[: limit - len(reference)] + reference


# Reports ----------------------------------------------------------------------------------------------


def signalen(delivery: Delivery, target: DeliveryTarget) -> Outgoing:
    """Signalen's public API (POST …/signals/v1/public/signals/).

    Signalen needs a location, and a social-media message rarely has coordinates: the report is placed at the
    configured point `codes.lon`/`codes.lat` (e.g. the town hall) and any street address stays in the text.
    """
    payload = delivery.payload
    codes = target.codes
    sub_category = codes.get(payload.get("subcategory") or "") or codes.get("default")
    if not sub_category:
        raise NotConfigured(
            f"delivery target '{delivery.target}' has no Signalen sub-category for "
            f"'{payload.get('subcategory')}': add it, or 'default', to its codes"
        )
    try:
        point = [float(codes["lon"]), float(codes["lat"])]
    except (KeyError, ValueError) as exc:
        raise NotConfigured(
            f"delivery target '{delivery.target}' needs codes 'lon' and 'lat' (Signalen requires a location)"
        ) from exc
    body = {
        "text": _with_reference(payload, SIGNALEN_TEXT_LENGTH),
        "category": {"sub_category": sub_category},
        "location": {"geometrie": {"type": "Point", "coordinates": point}},
        "incident_date_start": payload.get("sent_at"),
        "source": codes.get("source", SIGNALEN_SOURCE),
        "extra_properties": [
            {
                "id": "webcare_ticket",
                "label": "Webcare ticket",
                "answer": str(payload.get("ticket_id")),
                "category_url": sub_category,
            }
        ],
    }
    return Outgoing(
        "POST",
        target.url,
        _headers(delivery, _secret(target)),
        target.timeout_seconds,
        lambda answer: answer.get("signal_id") or answer.get("id_display") or answer.get("id"),
        json=body,
    )


def open311(delivery: Delivery, target: DeliveryTarget) -> Outgoing:
    """Open311 GeoReport v2: POST <url>/requests.json, form-encoded; answers [{"service_request_id"} or {"token"}]."""
    payload = delivery.payload
    codes = target.codes
    service_code = codes.get(payload.get("subcategory") or "") or codes.get("default")
    if not service_code:
        raise NotConfigured(
            f"delivery target '{delivery.target}' has no Open311 service_code for "
            f"'{payload.get('subcategory')}': add it, or 'default', to its codes"
        )
    form = {"service_code": service_code, "description": _with_reference(payload, OPEN311_DESCRIPTION_LENGTH)}
    secret = _secret(target)
    if secret:
        form["api_key"] = secret
    address = payload.get("address") or street_address(str(payload.get("text") or ""))
    if address:
        form["address_string"] = address + (f", {codes['city']}" if codes.get("city") else "")
    elif codes.get("lat") and codes.get("long"):
        form["lat"], form["long"] = codes["lat"], codes["long"]
    return Outgoing(
        "POST",
        target.url.rstrip("/") + "/requests.json",
        _headers(delivery),
        target.timeout_seconds,
        lambda answer: answer[0].get("service_request_id") or answer[0].get("token"),
        data=form,
    )


def webhook(delivery: Delivery, target: DeliveryTarget, *, now: datetime | None = None) -> Outgoing:
    """A signed JSON POST; see verify_webhook for how the receiver checks it."""
    secret = _secret(target)
    if not secret:
        raise NotConfigured(f"delivery target '{delivery.target}' has no secret: webhooks are always signed")
    body = json.dumps(
        {
            "id": delivery.idempotency_key,
            "kind": delivery.kind,
            "target": delivery.target,
            "ticket_id": delivery.ticket_id,
            "data": delivery.payload,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    timestamp = str(int((now or utcnow()).timestamp()))
    headers = {
        **_headers(delivery),
        "Content-Type": "application/json",
        "X-Webcare-Timestamp": timestamp,
        "X-Webcare-Signature": webhook_signature(secret, timestamp, body),
    }
    return Outgoing("POST", target.url, headers, target.timeout_seconds, lambda answer: answer.get("id"), content=body)


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """ "sha256=" + hex HMAC-SHA256 of f"{timestamp}.{body}" under the target's secret."""
    signed = timestamp.encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_webhook(
    body: bytes, timestamp: str | None, signature: str | None, secret: str, *, now: datetime | None = None
) -> bool:
    """What a receiver does with our webhook, and a reference implementation for one.

    1. Read the raw body, X-Webcare-Timestamp and X-Webcare-Signature before parsing anything.
    2. Refuse a timestamp more than 5 minutes away from your clock: a captured request cannot be replayed later.
    3. Compute "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)) and compare in constant time.
    4. Keep the Idempotency-Key of what you accepted, and answer a repeat with 2xx without acting twice.
    """
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    sent = datetime.fromtimestamp(int(timestamp), UTC)
    if abs((now or utcnow()) - sent) > SIGNATURE_TOLERANCE:
        return False
    return hmac.compare_digest(signature.encode(), webhook_signature(secret, timestamp, body).encode())


REPORT_FORMATS: dict[str, Callable[[Delivery, DeliveryTarget], Outgoing]] = {
    "signalen": signalen,
    "open311": open311,
    "webhook": webhook,
}


# Replies and acknowledgements through the platforms -------------------------------------------------------


def _meta_token(settings: Settings, platform: str) -> str:
    if settings.meta_page_token is None:
        raise NotConfigured(f"{platform} is not configured: set WEBCARE_META_PAGE_TOKEN")
    return settings.meta_page_token.get_secret_value()


def _reply_to(delivery: Delivery) -> str:
    reply_to = delivery.payload.get("reply_to")
    if not reply_to:
        raise CannotSend(f"no citizen's message on {delivery.target} to reply to")
    return str(reply_to)


def whatsapp(delivery: Delivery, settings: Settings) -> Outgoing:
    """WhatsApp Cloud API: POST {graph}/{phone_number_id}/messages; answers {"messages": [{"id": wamid}]}."""
    if settings.meta_page_token is None or not settings.whatsapp_phone_number_id:
        raise NotConfigured(
            "WhatsApp is not configured: set WEBCARE_META_PAGE_TOKEN and WEBCARE_WHATSAPP_PHONE_NUMBER_ID"
        )
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": delivery.payload["to"],
        "type": "text",
        "text": {"preview_url": False, "body": delivery.payload["text"]},
    }
    return Outgoing(
        "POST",
        f"{settings.meta_graph_url.rstrip('/')}/{settings.whatsapp_phone_number_id}/messages",
        _headers(delivery, settings.meta_page_token.get_secret_value()),
        CHANNEL_TIMEOUT_SECONDS,
        lambda answer: answer["messages"][0]["id"],
        json=body,
    )


def _meta_social(delivery: Delivery, settings: Settings, platform: str, comment_edge: str) -> Outgoing:
    token = _meta_token(settings, platform)
    graph = settings.meta_graph_url.rstrip("/")
    text = delivery.payload["text"]
    if delivery.payload.get("private"):
        # Messenger and Instagram direct messages: the Send API of the page.
        return Outgoing(
            "POST",
            f"{graph}/me/messages",
            _headers(delivery, token),
            CHANNEL_TIMEOUT_SECONDS,
            lambda answer: answer.get("message_id"),
            json={
                "recipient": {"id": delivery.payload.get("recipient") or delivery.payload["to"]},
                "messaging_type": "RESPONSE",
                "message": {"text": text},
            },
        )
    return Outgoing(
        "POST",
        f"{graph}/{_reply_to(delivery)}/{comment_edge}",
        _headers(delivery, token),
        CHANNEL_TIMEOUT_SECONDS,
        lambda answer: answer.get("id"),
        json={"message": text},
    )


def facebook(delivery: Delivery, settings: Settings) -> Outgoing:
    """A reply under the citizen's comment (POST {graph}/{comment_id}/comments), or a Messenger message."""
    return _meta_social(delivery, settings, "Facebook", "comments")


def instagram(delivery: Delivery, settings: Settings) -> Outgoing:
    """A reply to the citizen's comment (POST {graph}/{comment_id}/replies), or an Instagram direct message."""
    return _meta_social(delivery, settings, "Instagram", "replies")


def x(delivery: Delivery, settings: Settings) -> Outgoing:
    """X API v2: a reply tweet (POST /2/tweets), or a direct message (POST /2/dm_conversations/with/{id}/messages)."""
    if settings.x_bearer_token is None:
        raise NotConfigured("X is not configured: set WEBCARE_X_BEARER_TOKEN (a user-context token of our account)")
    api = settings.x_api_url.rstrip("/")
    headers = _headers(delivery, settings.x_bearer_token.get_secret_value())
    text = delivery.payload["text"]
    if delivery.payload.get("private"):
        recipient = delivery.payload.get("recipient")
        if not recipient:
            raise CannotSend("no X user id to send the direct message to")
        return Outgoing(
            "POST",
            f"{api}/2/dm_conversations/with/{recipient}/messages",
            headers,
            CHANNEL_TIMEOUT_SECONDS,
            lambda answer: answer["data"]["dm_event_id"],
            json={"text": text},
        )
    return Outgoing(
        "POST",
        f"{api}/2/tweets",
        headers,
        CHANNEL_TIMEOUT_SECONDS,
        lambda answer: answer["data"]["id"],
        json={"text": text, "reply": {"in_reply_to_tweet_id": _reply_to(delivery)}},
    )


CHANNELS: dict[str, Callable[[Delivery, Settings], Outgoing]] = {
    "whatsapp": whatsapp,
    "facebook": facebook,
    "instagram": instagram,
    "x": x,
}
