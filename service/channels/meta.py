"""Meta's Graph webhooks (WhatsApp Cloud API, Facebook Page and Messenger, Instagram) as normalized messages."""

import hmac
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from models import MessageCreate
from service.channels import PayloadError, SignatureError
from service.channels.common import each_item, text_or
from service.channels.signing import check_signature, sign_meta

SIGNATURE_HEADER = "X-Hub-Signature-256"
WHATSAPP = "whatsapp_business_account"
PAGE = "page"
INSTAGRAM = "instagram"

# Media without words still reaches the queue: a photo of a pothole is a report.
MEDIA_PLACEHOLDERS = {
    "image": "[foto zonder tekst]",
    "video": "[video zonder tekst]",
    "audio": "[spraakbericht]",
    "document": "[document zonder tekst]",
    "file": "[bestand zonder tekst]",
    "sticker": "[sticker]",
}
# A citizen's new post on the page's wall (when the page allows visitor posts) is as much a message as a comment.
VISITOR_POST_ITEMS = {"status", "post", "photo", "video"}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def verification_challenge(params: Mapping[str, str], verify_token: str) -> str | None:
    """The hub.challenge to echo when Meta's subscription handshake carries our verify token, else None."""
    challenge = params.get("hub.challenge")
    if not verify_token or params.get("hub.mode") != "subscribe" or not challenge:
        return None
    offered = params.get("hub.verify_token") or ""
    if not hmac.compare_digest(offered.encode(), verify_token.encode()):
        return None
    return challenge


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> None:
    """Raises SignatureError unless header is Meta's X-Hub-Signature-256 of raw_body under app_secret."""
    if not app_secret:
        raise SignatureError("the Meta app secret is not configured")
    check_signature(header, sign_meta(raw_body, app_secret), SIGNATURE_HEADER)


def parse_webhook(payload: dict[str, Any], *, own_ids: frozenset[str] = frozenset()) -> list[MessageCreate]:
    """Every inbound citizen message in a notification; own_ids are our pages'/accounts' ids, whose items are ours."""
    kind, entries = _envelope(payload)
    if kind == WHATSAPP:
        return _whatsapp_items(entries, "messages", _whatsapp_message)
    channel = "facebook" if kind == PAGE else "instagram"
    return each_item(entries, f"{channel} entry", lambda entry: _social_entry(entry, channel, own_ids))


def parse_whatsapp_statuses(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """WhatsApp delivery receipts: dicts with id, status, timestamp (UTC), recipient_id and errors."""
    kind, entries = _envelope(payload)
    if kind != WHATSAPP:
        return []
    return _whatsapp_items(entries, "statuses", _whatsapp_status)


def _envelope(payload: Any) -> tuple[str, list[Any]]:
    if not isinstance(payload, dict):
        raise PayloadError(f"a Meta webhook is a JSON object, not {type(payload).__name__}")
    kind = payload.get("object")
    if kind not in (WHATSAPP, PAGE, INSTAGRAM):
        raise PayloadError(f"unknown Meta webhook object {kind!r:.60}; expected {WHATSAPP}, {PAGE} or {INSTAGRAM}")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise PayloadError("a Meta webhook has an 'entry' list")
    return kind, entries


def _from_epoch(value: int | str) -> datetime:
    number = int(value)
    # Meta mixes units (WhatsApp and the feed count seconds, Messenger and Instagram milliseconds, entry.time
    # either); 10**11 seconds is the year 5138 and 10**11 milliseconds is 1973, so the size tells them apart.
    return EPOCH + (timedelta(milliseconds=number) if number >= 10**11 else timedelta(seconds=number))


def _location_text(name: Any, address: Any, latitude: Any, longitude: Any) -> str:
    place = ", ".join(str(part) for part in (name, address) if part)
    coordinates = f"{latitude}, {longitude}" if latitude is not None and longitude is not None else ""
    if place and coordinates:
        return f"[locatie: {place} ({coordinates})]"
    return f"[locatie: {place or coordinates or 'onbekend'}]"


# WhatsApp Cloud API ---------------------------------------------------------------------------------


def _whatsapp_items(entries: list[Any], key: str, convert: Callable[[dict, dict], Iterable]) -> list:
    """convert(item, value) for every value[key] item of every 'messages' change, skipping malformed ones."""

    def change_items(change: dict) -> list:
        if change.get("field") != "messages":
            return []
        value = change["value"]
        return each_item(value.get(key), f"WhatsApp {key}", lambda item: convert(item, value))

    return each_item(entries, "WhatsApp entry", lambda entry: each_item(entry.get("changes"), "change", change_items))


def _whatsapp_message(message: dict, value: dict) -> list[MessageCreate]:
    kind = message["type"]
    # A reaction is an emoji on a message, not something to answer (as likes and reactions on Facebook).
    if kind == "reaction":
        return []
    wa_id = message["from"]
    names = {
        contact.get("wa_id"): (contact.get("profile") or {}).get("name")
        for contact in value.get("contacts") or []
        if isinstance(contact, dict)
    }
    return [
        MessageCreate(
            channel="whatsapp",
            external_id=message["id"],
            author_handle=wa_id,
            author_name=names.get(wa_id),
            text=_whatsapp_text(message, kind),
            sent_at=_from_epoch(message["timestamp"]),
            # One running conversation per phone number: WhatsApp has no threads.
            conversation_id=wa_id,
            in_reply_to=(message.get("context") or {}).get("id"),
        )
    ]


def _whatsapp_text(message: dict, kind: str) -> str:
    if kind == "text":
        return text_or(message["text"].get("body"), "[bericht zonder tekst]")
    if kind == "location":
        place = message["location"]
        return _location_text(place.get("name"), place.get("address"), place.get("latitude"), place.get("longitude"))
    if kind == "interactive":
        # The citizen tapped a reply button or a list row; its title is what they said.
        interactive = message["interactive"]
        chosen = interactive.get(interactive.get("type")) or {}
        return text_or(chosen.get("title"), "[bericht van type interactive]")
    if kind == "button":
        return text_or(message["button"].get("text"), "[bericht van type button]")
    if kind in MEDIA_PLACEHOLDERS:
        media = message.get(kind) or {}
        if kind == "document" and media.get("filename"):
            return text_or(media.get("caption"), f"[document zonder tekst: {media['filename']}]")
        return text_or(media.get("caption"), MEDIA_PLACEHOLDERS[kind])
    return f"[bericht van type {kind}]"


def _whatsapp_status(status: dict, value: dict) -> list[dict[str, Any]]:
    return [
        {
            "id": status["id"],
            "status": status["status"],
            "timestamp": _from_epoch(status["timestamp"]),
            "recipient_id": status.get("recipient_id"),
            "errors": status.get("errors") or [],
        }
    ]


# Facebook Page (feed and Messenger) and Instagram (comments and direct messages) -------------------------


def _social_entry(entry: dict, channel: str, own_ids: frozenset[str]) -> list[MessageCreate]:
    # entry.id is the page or Instagram account the notification is for, so what it posts itself is ours.
    ours = (own_ids | {str(entry["id"])}) if entry.get("id") else own_ids
    if channel == "facebook":
        changes = each_item(entry.get("changes"), "feed change", lambda change: _facebook_change(change, ours))
    else:
        time = entry.get("time")
        changes = each_item(entry.get("changes"), "comment change", lambda c: _instagram_change(c, ours, time))
    messaging = entry.get("messaging")
    return changes + each_item(messaging, f"{channel} messaging event", lambda e: _direct_message(e, channel, ours))


def _facebook_change(change: dict, ours: frozenset[str]) -> list[MessageCreate]:
    value = change.get("value") or {}
    # Only new items are messages: edits, removals, hides, likes and reactions are not.
    if change.get("field") != "feed" or value.get("verb") != "add":
        return []
    item = value.get("item")
    if item != "comment" and item not in VISITOR_POST_ITEMS:
        return []
    author = value["from"]
    if str(author["id"]) in ours:
        return []
    post_id = value["post_id"]
    if item == "comment":
        external_id, parent_id = value["comment_id"], value.get("parent_id")
        # A top-level comment's parent is the post itself, which conversation_id already says.
        in_reply_to = parent_id if parent_id and parent_id != post_id else None
    else:
        external_id, in_reply_to = post_id, None
    post = value.get("post")
    return [
        MessageCreate(
            channel="facebook",
            external_id=external_id,
            author_handle=str(author["id"]),
            author_name=author.get("name"),
            text=_feed_text(value),
            sent_at=_from_epoch(value["created_time"]),
            conversation_id=post_id,
            in_reply_to=in_reply_to,
            permalink=value.get("permalink_url") or (post.get("permalink_url") if isinstance(post, dict) else None),
        )
    ]


def _feed_text(value: dict) -> str:
    if value.get("photo") or value.get("photos"):
        placeholder = MEDIA_PLACEHOLDERS["image"]
    elif value.get("video"):
        placeholder = MEDIA_PLACEHOLDERS["video"]
    else:
        placeholder = "[bericht zonder tekst]"
    return text_or(value.get("message"), placeholder)


def _instagram_change(change: dict, ours: frozenset[str], entry_time: Any) -> list[MessageCreate]:
    if change.get("field") not in ("comments", "live_comments"):
        return []
    value = change["value"]
    author = value["from"]
    if str(author["id"]) in ours:
        return []
    username = author.get("username")
    return [
        MessageCreate(
            channel="instagram",
            external_id=value["id"],
            author_handle=f"@{username}" if username else str(author["id"]),
            text=text_or(value.get("text"), "[bericht zonder tekst]"),
            # The comment itself carries no time; the notification's is the closest we get.
            sent_at=_from_epoch(entry_time),
            conversation_id=(value.get("media") or {}).get("id"),
            in_reply_to=value.get("parent_id"),
        )
    ]


def _direct_message(event: dict, channel: str, ours: frozenset[str]) -> list[MessageCreate]:
    message = event.get("message")
    # Deliveries, reads, reactions and postbacks carry no message; echoes are what we sent ourselves.
    if message is None or message.get("is_echo") or message.get("is_deleted"):
        return []
    sender = str(event["sender"]["id"])
    if sender in ours:
        return []
    return [
        MessageCreate(
            channel=channel,
            external_id=message["mid"],
            author_handle=sender,
            text=_direct_message_text(message),
            sent_at=_from_epoch(event["timestamp"]),
            conversation_id=sender,
            in_reply_to=(message.get("reply_to") or {}).get("mid"),
        )
    ]


def _direct_message_text(message: dict) -> str:
    placeholders = " ".join(_attachment_text(attachment) for attachment in message.get("attachments") or [])
    return text_or(message.get("text"), placeholders or "[bericht zonder tekst]")


def _attachment_text(attachment: dict) -> str:
    kind = attachment.get("type")
    payload = attachment.get("payload") or {}
    if kind == "image" and payload.get("sticker_id"):
        return MEDIA_PLACEHOLDERS["sticker"]
    if kind == "location":
        coordinates = payload.get("coordinates") or {}
        return _location_text(attachment.get("title"), None, coordinates.get("lat"), coordinates.get("long"))
    return MEDIA_PLACEHOLDERS.get(kind, f"[bericht van type {kind}]")
