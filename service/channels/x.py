"""X (Twitter) Account Activity API webhooks as normalized messages."""

from datetime import UTC, datetime, timedelta
from typing import Any

from models import MessageCreate
from service.channels import PayloadError, SignatureError
from service.channels.common import each_item, text_or
from service.channels.signing import check_signature, sign_x

SIGNATURE_HEADER = "x-twitter-webhooks-signature"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# X writes English month names; strptime's %b would follow the process locale, so we map them ourselves.
MONTHS = {name: number for number, name in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
MEDIA_PLACEHOLDERS = {"photo": "[foto zonder tekst]", "video": "[video zonder tekst]", "animated_gif": "[gif]"}


def crc_response(crc_token: str, consumer_secret: str) -> dict[str, str]:
    """The answer to X's challenge-response check (GET with crc_token) that proves we hold the consumer secret."""
    if not consumer_secret:
        raise SignatureError("the X consumer secret is not configured")
    return {"response_token": sign_x(crc_token.encode(), consumer_secret)}


def verify_signature(raw_body: bytes, header: str | None, consumer_secret: str) -> None:
    """Raises SignatureError unless header is X's x-twitter-webhooks-signature of raw_body under consumer_secret."""
    if not consumer_secret:
        raise SignatureError("the X consumer secret is not configured")
    check_signature(header, sign_x(raw_body, consumer_secret), SIGNATURE_HEADER)


def parse_webhook(payload: dict[str, Any]) -> list[MessageCreate]:
    """Mentions, replies and direct messages from others to our account (for_user_id)."""
    if not isinstance(payload, dict):
        raise PayloadError(f"an X webhook is a JSON object, not {type(payload).__name__}")
    if not payload.get("for_user_id"):
        raise PayloadError("an X Account Activity webhook has a 'for_user_id'")
    ours = str(payload["for_user_id"])
    users = payload.get("users") if isinstance(payload.get("users"), dict) else {}
    tweets = each_item(payload.get("tweet_create_events"), "tweet", lambda tweet: _tweet(tweet, ours))
    direct = each_item(
        payload.get("direct_message_events"), "direct message", lambda e: _direct_message(e, ours, users)
    )
    return tweets + direct


def _tweet(tweet: dict, ours: str) -> list[MessageCreate]:
    user = tweet["user"]
    # Our own tweets and retweets of anything (they add no words of their own) are not messages to answer.
    if str(user["id_str"]) == ours or "retweeted_status" in tweet:
        return []
    tweet_id = tweet["id_str"]
    text = (tweet.get("extended_tweet") or {}).get("full_text") or tweet.get("full_text") or tweet["text"]
    in_reply_to = tweet.get("in_reply_to_status_id_str")
    conversation_id = tweet.get("conversation_id_str") or tweet.get("conversation_id") or in_reply_to or tweet_id
    return [
        MessageCreate(
            channel="x",
            external_id=tweet_id,
            author_handle=f"@{user['screen_name']}",
            author_name=user.get("name"),
            text=text_or(_unescape(text), "[bericht zonder tekst]"),
            sent_at=_from_created_at(tweet["created_at"]),
            conversation_id=str(conversation_id),
            in_reply_to=in_reply_to,
            permalink=f"https://x.com/{user['screen_name']}/status/{tweet_id}",
        )
    ]


def _direct_message(event: dict, ours: str, users: dict) -> list[MessageCreate]:
    if event.get("type") != "message_create":
        return []
    create = event["message_create"]
    sender = str(create["sender_id"])
    if sender == ours:
        return []
    data = create["message_data"]
    media = (data.get("attachment") or {}).get("media") or {}
    user = users.get(sender) or {}
    screen_name = user.get("screen_name")
    return [
        MessageCreate(
            channel="x",
            external_id=event["id"],
            author_handle=f"@{screen_name}" if screen_name else sender,
            author_name=user.get("name"),
            text=text_or(data.get("text"), MEDIA_PLACEHOLDERS.get(media.get("type"), "[bericht zonder tekst]")),
            sent_at=EPOCH + timedelta(milliseconds=int(event["created_timestamp"])),
            conversation_id=sender,
        )
    ]


def _from_created_at(value: str) -> datetime:
    # "Wed Oct 10 20:19:24 +0000 2018"
    _weekday, month, day, clock, offset, year = value.split()
    return datetime.strptime(f"{year}-{MONTHS[month]}-{day} {clock} {offset}", "%Y-%m-%d %H:%M:%S %z")


def _unescape(text: str) -> str:
    # The v1.1 tweet object HTML-escapes exactly these three characters in its text.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
