"""Sending one delivery: each format's exact request, the webhook signature, and how answers become outcomes."""

import json
import random
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx2 as httpx
import pytest

from models import Delivery
from service.delivery import backoff
from service.senders import Result, send, verify_webhook, webhook
from service.settings import Settings

NOW = datetime(2026, 11, 21, 22, 0, 5, tzinfo=UTC)
REPORT = {
    "ticket_id": 7,
    "text": "Lantaarnpaal kapot op de Kerkstraat 12",
    "category": "public_space_report",
    "subcategory": "street_lighting",
    "urgent": False,
    "priority": "normal",
    "channel": "x",
    "sent_at": "2026-11-21T22:00:00+00:00",
    "permalink": None,
}
SIGNALEN_LAMPS = "https://signalen.example.nl/signals/v1/public/terms/categories/wegen/sub_categories/lampen"


def settings(**overrides) -> Settings:
    targets = {
        "openbare_ruimte": {
            "format": "signalen",
            "url": "https://signalen.example.nl/signals/v1/public/signals/",
            "secret": "signalen-token",
            "codes": {"street_lighting": SIGNALEN_LAMPS, "default": "https://x/overig", "lon": "4.9", "lat": "52.37"},
        },
        "meldpunt": {
            "format": "open311",
            "url": "https://open311.example.nl/v2/",
            "secret": "open311-key",
            "codes": {"default": "OR-001", "city": "Zuiderveen"},
        },
        "buiten_kantoortijd": {"format": "webhook", "url": "https://kcc.example.nl/intake", "secret": "hmac-secret"},
    }
    return Settings(_env_file=None, delivery_targets=targets, **overrides)


def report(target: str, payload: dict | None = None) -> Delivery:
    return Delivery(
        id=1,
        ticket_id=7,
        kind="report",
        target=target,
        payload=payload or REPORT,
        idempotency_key=f"ticket-7-report-{target}",
    )


def reply(channel: str, **context) -> Delivery:
    payload = {"text": "Dank je, we kijken ernaar.", "to": "31612345678", "conversation_id": None, **context}
    return Delivery(id=2, ticket_id=7, kind="reply", target=channel, payload=payload, idempotency_key="message-9")


class Receiver:
    """A mock transport that records requests and answers with a fixed response."""

    def __init__(self, status: int = 200, body=None, headers: dict | None = None, error: Exception | None = None):
        self.requests: list[httpx.Request] = []
        self.status, self.body, self.headers, self.error = status, body, headers or {}, error

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.error is not None:
            raise self.error
        if isinstance(self.body, str):
            return httpx.Response(self.status, text=self.body, headers=self.headers)
        return httpx.Response(self.status, json=self.body, headers=self.headers)

    def send(self, delivery: Delivery, config: Settings) -> Result:
        with httpx.Client(transport=httpx.MockTransport(self)) as client:
            return send(delivery, config, client=client)

    @property
    def only(self) -> httpx.Request:
        assert len(self.requests) == 1
        return self.requests[0]


# Backoff --------------------------------------------------------------------------------------------


class Highest:
    def uniform(self, low, high):
        return high


class Lowest:
    def uniform(self, low, high):
        return low


def test_backoff_doubles_from_30_seconds_up_to_an_hour_at_most():
    ceilings = [backoff(attempt, Highest()).total_seconds() for attempt in range(1, 10)]
    assert ceilings == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff(10_000, Highest()) == timedelta(hours=1)  # no overflow however many attempts
    assert backoff(3, Lowest()) == timedelta(0)


def test_backoff_is_spread_over_the_whole_window():
    rng = random.Random(1)
    waits = [backoff(4, rng).total_seconds() for _ in range(2000)]
    assert min(waits) >= 0 and max(waits) <= 240
    # Full jitter: uniform over [0, 240], so about a quarter falls in each quarter of the window.
    quarters = [sum(1 for w in waits if q * 60 <= w < (q + 1) * 60) for q in range(4)]
    assert all(420 <= count <= 580 for count in quarters), quarters


def test_backoff_takes_base_and_cap_from_the_caller():
    assert backoff(3, Highest(), base=0.5, cap=1.0) == timedelta(seconds=1)


# Reports ----------------------------------------------------------------------------------------------


def test_signalen_gets_its_public_api_shape_with_the_configured_point_and_a_bearer_token():
    receiver = Receiver(201, {"signal_id": "5d2c1a", "id_display": "SIG-123"})
    result = receiver.send(report("openbare_ruimte"), settings())

    assert result == Result(True, remote_id="5d2c1a")
    request = receiver.only
    assert (request.method, str(request.url)) == ("POST", "https://signalen.example.nl/signals/v1/public/signals/")
    assert request.headers["authorization"] == "Bearer signalen-token"
    assert request.headers["idempotency-key"] == "ticket-7-report-openbare_ruimte"
    assert json.loads(request.content) == {
        "text": "Lantaarnpaal kapot op de Kerkstraat 12\n\n[webcare ticket 7]",
        "category": {"sub_category": SIGNALEN_LAMPS},
        "location": {"geometrie": {"type": "Point", "coordinates": [4.9, 52.37]}},
        "incident_date_start": "2026-11-21T22:00:00+00:00",
        "source": "online",
        "extra_properties": [
            {"id": "webcare_ticket", "label": "Webcare ticket", "answer": "7", "category_url": SIGNALEN_LAMPS}
        ],
    }


def test_signalen_without_a_location_is_not_configured_and_is_retried_not_dropped():
    config = settings()
    config.delivery_targets["openbare_ruimte"].codes.pop("lat")
    receiver = Receiver()
    result = receiver.send(report("openbare_ruimte"), config)
    assert result == Result(
        False, error="delivery target 'openbare_ruimte' needs codes 'lon' and 'lat' (Signalen requires a location)"
    )
    assert receiver.requests == []


def test_open311_posts_a_form_with_the_service_code_key_and_the_street_address():
    receiver = Receiver(200, [{"service_request_id": "638344", "service_notice": "binnen 5 werkdagen"}])
    result = receiver.send(report("meldpunt"), settings())

    assert result == Result(True, remote_id="638344")
    request = receiver.only
    assert str(request.url) == "https://open311.example.nl/v2/requests.json"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["idempotency-key"] == "ticket-7-report-meldpunt"
    assert parse_qs(request.content.decode()) == {
        "service_code": ["OR-001"],
        "description": ["Lantaarnpaal kapot op de Kerkstraat 12\n\n[webcare ticket 7]"],
        "api_key": ["open311-key"],
        "address_string": ["kerkstraat 12, Zuiderveen"],
    }


def test_open311_answering_with_a_token_is_delivered_under_that_token():
    assert Receiver(200, [{"token": "12345"}]).send(report("meldpunt"), settings()) == Result(True, remote_id="12345")


def test_the_webhook_is_signed_over_timestamp_and_body_and_a_receiver_can_verify_it():
    outgoing = webhook(report("buiten_kantoortijd"), settings().delivery_targets["buiten_kantoortijd"], now=NOW)

    headers = outgoing.headers
    assert headers["X-Webcare-Timestamp"] == str(int(NOW.timestamp()))
    assert headers["Idempotency-Key"] == "ticket-7-report-buiten_kantoortijd"
    assert json.loads(outgoing.content) == {
        "id": "ticket-7-report-buiten_kantoortijd",
        "kind": "report",
        "target": "buiten_kantoortijd",
        "ticket_id": 7,
        "data": REPORT,
    }
    stamp, signature = headers["X-Webcare-Timestamp"], headers["X-Webcare-Signature"]
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify_webhook(outgoing.content, stamp, signature, "hmac-secret", now=NOW + timedelta(minutes=4))
    assert not verify_webhook(outgoing.content, stamp, signature, "other-secret", now=NOW)
    assert not verify_webhook(outgoing.content + b" ", stamp, signature, "hmac-secret", now=NOW)
    assert not verify_webhook(outgoing.content, str(int(stamp) + 1), signature, "hmac-secret", now=NOW)
    # A captured request replayed later is refused.
    assert not verify_webhook(outgoing.content, stamp, signature, "hmac-secret", now=NOW + timedelta(minutes=6))


def test_a_webhook_target_without_a_secret_is_not_configured():
    config = settings()
    config.delivery_targets["buiten_kantoortijd"].secret = None
    result = Receiver().send(report("buiten_kantoortijd"), config)
    assert result == Result(
        False, error="delivery target 'buiten_kantoortijd' has no secret: webhooks are always signed"
    )


def test_an_unknown_target_is_a_clear_retryable_error():
    result = Receiver().send(report("elders"), settings())
    assert result == Result(
        False, error="delivery target 'elders' is not configured: add it to WEBCARE_DELIVERY_TARGETS"
    )


# What the answer means ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (500, "Internal Server Error", {}, Result(False, error="HTTP 500: Internal Server Error")),
        (503, {"detail": "onderhoud"}, {}, Result(False, error="HTTP 503: onderhoud")),
        (408, "", {}, Result(False, error="HTTP 408: Request Timeout")),
        (
            429,
            {"title": "Too Many Requests"},
            {"Retry-After": "120"},
            Result(False, error="HTTP 429: Too Many Requests", retry_after=timedelta(seconds=120)),
        ),
        (
            400,
            {"location": ["Dit veld is verplicht."]},
            {},
            Result(False, error='HTTP 400: {"location":["Dit veld is verplicht."]}', permanent=True),
        ),
        (
            403,
            {"error": {"message": "Invalid OAuth access token.", "code": 190}},
            {},
            Result(False, error="HTTP 403: Invalid OAuth access token.", permanent=True),
        ),
        (
            404,
            [{"code": 404, "description": "service_code not found"}],
            {},
            Result(False, error="HTTP 404: service_code not found", permanent=True),
        ),
        (
            301,
            "",
            {"Location": "https://signalen.example.nl/signals/v1/public/signals"},
            Result(
                False,
                error="HTTP 301: redirected to https://signalen.example.nl/signals/v1/public/signals; "
                "fix the target URL",
                permanent=True,
            ),
        ),
        (202, "accepted", {}, Result(True)),
    ],
)
def test_answers_are_delivered_retried_or_permanent(status, body, headers, expected):
    assert Receiver(status, body, headers).send(report("openbare_ruimte"), settings()) == expected


def test_a_refused_connection_and_a_timeout_are_retried():
    refused = Receiver(error=httpx.ConnectError("[Errno 111] Connection refused"))
    assert refused.send(report("openbare_ruimte"), settings()) == Result(
        False, error="ConnectError: [Errno 111] Connection refused"
    )
    slow = Receiver(error=httpx.ReadTimeout("timed out"))
    assert slow.send(report("openbare_ruimte"), settings()) == Result(False, error="no answer within 10 s")


# Replies through the platforms ---------------------------------------------------------------------------


def test_whatsapp_without_credentials_fails_clearly_and_is_retried():
    receiver = Receiver()
    result = receiver.send(reply("whatsapp"), settings())
    assert result == Result(
        False, error="WhatsApp is not configured: set WEBCARE_META_PAGE_TOKEN and WEBCARE_WHATSAPP_PHONE_NUMBER_ID"
    )
    assert receiver.requests == []


def test_whatsapp_replies_through_the_cloud_api():
    receiver = Receiver(200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.ABC"}]})
    config = settings(meta_page_token="page-token", whatsapp_phone_number_id="112233445566778")
    result = receiver.send(reply("whatsapp"), config)

    assert result == Result(True, remote_id="wamid.ABC")
    request = receiver.only
    assert str(request.url) == "https://graph.facebook.com/v21.0/112233445566778/messages"
    assert request.headers["authorization"] == "Bearer page-token"
    assert request.headers["idempotency-key"] == "message-9"
    assert json.loads(request.content) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "31612345678",
        "type": "text",
        "text": {"preview_url": False, "body": "Dank je, we kijken ernaar."},
    }


@pytest.mark.parametrize(
    ("channel", "context", "url", "body", "answer", "remote_id"),
    [
        (
            "facebook",
            {"reply_to": "872345610938221_1093847562019384", "private": False},
            "https://graph.facebook.com/v21.0/872345610938221_1093847562019384/comments",
            {"message": "Dank je, we kijken ernaar."},
            {"id": "872345610938221_5550001"},
            "872345610938221_5550001",
        ),
        (
            "facebook",
            {"reply_to": "m_abc", "private": True, "recipient": "6543210987654321"},
            "https://graph.facebook.com/v21.0/me/messages",
            {
                "recipient": {"id": "6543210987654321"},
                "messaging_type": "RESPONSE",
                "message": {"text": "Dank je, we kijken ernaar."},
            },
            {"recipient_id": "6543210987654321", "message_id": "m_reply"},
            "m_reply",
        ),
        (
            "instagram",
            {"reply_to": "17895695668004550", "private": False},
            "https://graph.facebook.com/v21.0/17895695668004550/replies",
            {"message": "Dank je, we kijken ernaar."},
            {"id": "17900000000000001"},
            "17900000000000001",
        ),
    ],
)
def test_meta_replies_go_under_the_comment_or_into_the_direct_conversation(
    channel, context, url, body, answer, remote_id
):
    receiver = Receiver(200, answer)
    result = receiver.send(reply(channel, **context), settings(meta_page_token="page-token"))
    assert result == Result(True, remote_id=remote_id)
    assert (str(receiver.only.url), json.loads(receiver.only.content)) == (url, body)


def test_x_replies_in_the_thread_or_by_direct_message():
    config = settings(x_bearer_token="x-user-token", x_api_url="https://api.x.test")
    public = Receiver(201, {"data": {"id": "1850000000000000001", "text": "…"}})
    assert public.send(reply("x", reply_to="1847551976297046707", private=False), config) == Result(
        True, remote_id="1850000000000000001"
    )
    assert str(public.only.url) == "https://api.x.test/2/tweets"
    assert public.only.headers["authorization"] == "Bearer x-user-token"
    assert json.loads(public.only.content) == {
        "text": "Dank je, we kijken ernaar.",
        "reply": {"in_reply_to_tweet_id": "1847551976297046707"},
    }

    private = Receiver(201, {"data": {"dm_conversation_id": "1-2", "dm_event_id": "1850000000000000002"}})
    assert private.send(reply("x", reply_to="9", private=True, recipient="2950186734"), config) == Result(
        True, remote_id="1850000000000000002"
    )
    assert str(private.only.url) == "https://api.x.test/2/dm_conversations/with/2950186734/messages"


def test_a_reply_with_nothing_to_answer_or_on_a_channel_without_adapter_is_dead_at_once():
    config = settings(x_bearer_token="x-user-token", meta_page_token="page-token")
    assert Receiver().send(reply("x", reply_to=None, private=False), config) == Result(
        False, error="no citizen's message on x to reply to", permanent=True
    )
    assert Receiver().send(reply("email"), config) == Result(
        False, error="replies on channel 'email' are not sent by webcare: answer the citizen directly", permanent=True
    )
