"""Meta webhooks: the handshake, signatures, and every sample payload parsed to exact messages."""

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from models import MAX_TEXT_LENGTH
from service.channels import PayloadError, SignatureError
from service.channels.meta import parse_webhook, parse_whatsapp_statuses, verification_challenge, verify_signature
from service.channels.signing import sign_meta

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "channels"
SECRET = "meta-app-secret-test"
PAGE_ID = "104857392017463"
POST_ID = "104857392017463_872345610938221"
POST_PERMALINK = "https://www.facebook.com/GemeenteZuiderveen/posts/pfbid02kQx7YvR3uFh8sLm1TzWn5cB9dJ4eA6gP2oXr"
KEES_COMMENT = "872345610938221_1093847562019384"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_bytes())


def parsed(payload: dict, **options) -> list[dict]:
    return [message.model_dump() for message in parse_webhook(payload, **options)]


def message(**fields) -> dict:
    return {"author_name": None, "conversation_id": None, "in_reply_to": None, "permalink": None, **fields}


EXPECTED = {
    "whatsapp_text.json": [
        message(
            channel="whatsapp",
            external_id="wamid.HBgLMzE2MTIzNDU2NzgVAgASGBQzRUIwQzc0RjE4QkE1QzdBNjlEMQA=",
            author_handle="31612345678",
            author_name="Sanne de Vries",
            text="Goedemorgen, wanneer wordt het oud papier opgehaald in de Bloemenbuurt? "
            "Op de afvalkalender staat niks voor deze week.",
            sent_at=datetime(2024, 10, 14, 7, 42, 13, tzinfo=UTC),
            conversation_id="31612345678",
        )
    ],
    "whatsapp_image_caption.json": [
        message(
            channel="whatsapp",
            external_id="wamid.HBgLMzE2ODc2NTQzMjEVAgASGBQzQTdGNEE5QjE2QjYyRUVDMUQ4OAA=",
            author_handle="31687654321",
            author_name="Mehmet Yilmaz",
            text="Gat in het fietspad op de Molenweg ter hoogte van nr 14, vanavond al twee fietsers onderuit gegaan",
            sent_at=datetime(2024, 10, 14, 19, 5, 48, tzinfo=UTC),
            conversation_id="31687654321",
        )
    ],
    "whatsapp_image_no_caption.json": [
        message(
            channel="whatsapp",
            external_id="wamid.HBgLMzE2ODc2NTQzMjEVAgASGBQzQUMyOUQ1NkY4RTAxQjc3QTFFOQA=",
            author_handle="31687654321",
            author_name="Mehmet Yilmaz",
            text="[foto zonder tekst]",
            sent_at=datetime(2024, 10, 14, 19, 6, 2, tzinfo=UTC),
            conversation_id="31687654321",
        )
    ],
    "whatsapp_location.json": [
        message(
            channel="whatsapp",
            external_id="wamid.HBgLMzE2NTU1MDEyMzQVAgASGBQzQTFCOEQ3RTQ0MDk2RkI1RTg3MgA=",
            author_handle="31655501234",
            author_name="Ria",
            text="[locatie: Speeltuin De Klimboom, Kastanjelaan 3, Zuiderveen (52.08941, 5.11017)]",
            sent_at=datetime(2024, 10, 19, 21, 17, 30, tzinfo=UTC),
            conversation_id="31655501234",
        )
    ],
    "whatsapp_status.json": [],
    "whatsapp_batch.json": [
        message(
            channel="whatsapp",
            external_id="wamid.HBgLMzE2MjIyMzMzNDQVAgASGBQzQTZFMEI4QzJEOTFGNDc1QjA2MwA=",
            author_handle="31622233344",
            author_name="Peter Bakker",
            text="Lantaarnpaal voor Beukenstraat 27 brandt al een week niet, het is daar s avonds aardedonker",
            sent_at=datetime(2024, 10, 15, 6, 58, 41, tzinfo=UTC),
            conversation_id="31622233344",
        ),
        message(
            channel="whatsapp",
            external_id="wamid.HBgLMzE2MTIzNDU2NzgVAgASGBQzQjQ0RjJBOTg3QzE1RTBEOEE2NQA=",
            author_handle="31612345678",
            author_name="Sanne de Vries",
            text="Dank je, maar de container in onze straat is vanochtend weer niet geleegd.",
            sent_at=datetime(2024, 10, 15, 6, 59, 3, tzinfo=UTC),
            conversation_id="31612345678",
            in_reply_to="wamid.HBgLMzE2MTIzNDU2NzgVAgARGBI1RjQyQjc4OTMxQjBEMjk3RjkA",
        ),
    ],
    "facebook_comment.json": [
        message(
            channel="facebook",
            external_id=KEES_COMMENT,
            author_handle="6823945107738215",
            author_name="Kees Jansen",
            text="Leuk dat de kermis terugkomt, maar wie ruimt na afloop de rommel op het Marktplein op? "
            "Vorig jaar lag het er een week later nog.",
            sent_at=datetime(2024, 10, 16, 12, 31, 7, tzinfo=UTC),
            conversation_id=POST_ID,
            permalink=POST_PERMALINK,
        )
    ],
    "facebook_comment_reply.json": [
        message(
            channel="facebook",
            external_id="872345610938221_1093850127745102",
            author_handle="7390218465502931",
            author_name="Fatima El Amrani",
            text="Bij ons op de Lindenlaan staat de glasbak ook al drie dagen vol, er staan nu flessen naast.",
            sent_at=datetime(2024, 10, 16, 13, 2, 55, tzinfo=UTC),
            conversation_id=POST_ID,
            in_reply_to=KEES_COMMENT,
            permalink=POST_PERMALINK,
        )
    ],
    "facebook_page_own_comment.json": [],
    "messenger_message.json": [
        message(
            channel="facebook",
            external_id="m_Xv3kR8qLw2nT7yP1sZ4bH9cJ6dF0gA5eU2iO8mK3rV1tW7xQ4nB6yL9pS2jD5hG8fC0aE3uI6oM1kN4wR7zT",
            author_handle="8274019365520418",
            text="Hoi, ik ben mijn rijbewijs kwijtgeraakt. "
            "Moet ik eerst aangifte doen voordat ik een nieuwe kan aanvragen?",
            sent_at=datetime(2024, 10, 17, 9, 12, 44, 518000, tzinfo=UTC),
            conversation_id="8274019365520418",
        )
    ],
    "messenger_echo.json": [],
    "instagram_comment.json": [
        message(
            channel="instagram",
            external_id="17996642381551032",
            author_handle="@lotte.zuiderveen",
            text="Waarom staan er al drie weken hekken om de speeltuin in het Stadspark? "
            "Mijn kinderen vragen elke dag wanneer ze er weer in mogen 🙁",
            sent_at=datetime(2024, 10, 18, 16, 45, 22, tzinfo=UTC),
            conversation_id="18034726195028471",
        )
    ],
    "instagram_dm.json": [
        message(
            channel="instagram",
            external_id="aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0ND"
            "I1OTkzNzgxNzQ4NjI5MjY0MDozMTk4NzY1NDMyMTA5ODc2NTQzMjEA",
            author_handle="1093846271530498",
            text="Er ligt sinds vanmiddag een dode zwaan in de vijver bij de Wilhelminabrug, kan iemand die weghalen?",
            sent_at=datetime(2024, 10, 18, 20, 3, 11, 227000, tzinfo=UTC),
            conversation_id="1093846271530498",
        )
    ],
}


def test_every_meta_fixture_has_an_expectation():
    on_disk = {path.name for path in FIXTURES.glob("*.json") if not path.name.startswith("x_")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_exactly_the_expected_messages(name):
    messages = parse_webhook(load(name))
    assert [m.model_dump() for m in messages] == EXPECTED[name]
    assert all(m.sent_at.tzinfo is UTC for m in messages)


# WhatsApp -----------------------------------------------------------------------------------------


def whatsapp(**fields) -> dict:
    """whatsapp_text.json with its one message's type-specific fields replaced."""
    payload = load("whatsapp_text.json")
    inbound = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del inbound["text"]
    inbound.update(fields)
    return payload


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        (
            {"type": "audio", "audio": {"mime_type": "audio/ogg; codecs=opus", "id": "1", "voice": True}},
            "[spraakbericht]",
        ),
        ({"type": "sticker", "sticker": {"mime_type": "image/webp", "id": "2", "animated": False}}, "[sticker]"),
        ({"type": "video", "video": {"mime_type": "video/mp4", "id": "3"}}, "[video zonder tekst]"),
        (
            {"type": "video", "video": {"id": "3", "caption": "Zo stroomt het water de kelder in"}},
            "Zo stroomt het water de kelder in",
        ),
        (
            {
                "type": "document",
                "document": {"id": "4", "filename": "bezwaarschrift.pdf", "mime_type": "application/pdf"},
            },
            "[document zonder tekst: bezwaarschrift.pdf]",
        ),
        ({"type": "document", "document": {"id": "4", "caption": "Mijn bezwaar", "filename": "b.pdf"}}, "Mijn bezwaar"),
        ({"type": "image", "image": {"id": "5", "caption": "   "}}, "[foto zonder tekst]"),
        ({"type": "location", "location": {"latitude": 52.1, "longitude": 5.2}}, "[locatie: 52.1, 5.2]"),
        (
            {
                "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": "ja", "title": "Ja, graag"}},
            },
            "Ja, graag",
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "list_reply",
                    "list_reply": {"id": "afval", "title": "Afval en containers", "description": "Ophaaldagen"},
                },
            },
            "Afval en containers",
        ),
        ({"type": "button", "button": {"text": "Stop meldingen", "payload": "STOP"}}, "Stop meldingen"),
        (
            {"type": "contacts", "contacts": [{"name": {"formatted_name": "Buurman Henk"}, "phones": []}]},
            "[bericht van type contacts]",
        ),
        (
            {"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]},
            "[bericht van type unsupported]",
        ),
    ],
)
def test_whatsapp_content_without_plain_text_gets_its_caption_or_a_placeholder(fields, text):
    assert [m.text for m in parse_webhook(whatsapp(**fields))] == [text]


def test_whatsapp_reaction_is_not_a_message():
    reaction = {"type": "reaction", "reaction": {"message_id": "wamid.OURS", "emoji": "👍"}}
    assert parse_webhook(whatsapp(**reaction)) == []


def test_whatsapp_statuses_are_exposed_separately():
    assert parse_whatsapp_statuses(load("whatsapp_status.json")) == [
        {
            "id": "wamid.HBgLMzE2MTIzNDU2NzgVAgARGBI1RjQyQjc4OTMxQjBEMjk3RjkA",
            "status": "delivered",
            "timestamp": datetime(2024, 10, 14, 8, 15, 0, tzinfo=UTC),
            "recipient_id": "31612345678",
            "errors": [],
        },
        {
            "id": "wamid.HBgLMzE2NTU1MDEyMzQVAgARGBIzQkE5MTdDNEU2RjAyQTg1MUQA",
            "status": "failed",
            "timestamp": datetime(2024, 10, 14, 8, 15, 20, tzinfo=UTC),
            "recipient_id": "31655501234",
            "errors": [
                {
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {
                        "details": "Message failed to send because more than 24 hours have passed since the customer "
                        "last replied to this number."
                    },
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                }
            ],
        },
    ]
    assert parse_whatsapp_statuses(load("whatsapp_text.json")) == []
    assert parse_whatsapp_statuses(load("facebook_comment.json")) == []


def test_an_over_long_text_is_cut_to_the_stored_length_not_dropped():
    (cut,) = parse_webhook(whatsapp(type="text", text={"body": "x" * (MAX_TEXT_LENGTH + 50)}))
    assert cut.text == "x" * (MAX_TEXT_LENGTH - 1) + "…"


# Facebook Page ------------------------------------------------------------------------------------


def feed(**value) -> dict:
    """facebook_comment.json with fields of its change's value replaced (None removes one)."""
    payload = load("facebook_comment.json")
    change = payload["entry"][0]["changes"][0]["value"]
    change.update(value)
    for key in [key for key, replaced in value.items() if replaced is None]:
        del change[key]
    return payload


@pytest.mark.parametrize(
    "value",
    [
        {"verb": "edited"},
        {"verb": "remove"},
        {"verb": "hide"},
        {"item": "reaction", "reaction_type": "like"},
        {"item": "like"},
        {"item": "share"},
    ],
)
def test_feed_changes_that_are_not_new_citizen_items_are_ignored(value):
    assert parse_webhook(feed(**value)) == []


def test_a_comment_from_one_of_our_ids_is_ours():
    assert parse_webhook(load("facebook_comment.json"), own_ids=frozenset({"6823945107738215"})) == []
    assert len(parse_webhook(load("facebook_comment.json"), own_ids=frozenset({"999"}))) == 1


def test_a_photo_comment_without_words_keeps_a_placeholder():
    payload = feed(message=None, photo="https://scontent.xx.fbcdn.net/v/t39.1997-6/lantaarnpaal.jpg")
    assert [m.text for m in parse_webhook(payload)] == ["[foto zonder tekst]"]


def test_a_visitor_post_on_the_page_is_a_message_of_its_own():
    visitor_post = {
        "item": "status",
        "comment_id": None,
        "parent_id": None,
        "post": None,
        "post_id": "104857392017463_880012349876543",
        "message": "Is het stadskantoor zaterdag open? Ik moet mijn paspoort ophalen.",
    }
    assert parsed(feed(**visitor_post)) == [
        message(
            channel="facebook",
            external_id="104857392017463_880012349876543",
            author_handle="6823945107738215",
            author_name="Kees Jansen",
            text="Is het stadskantoor zaterdag open? Ik moet mijn paspoort ophalen.",
            sent_at=datetime(2024, 10, 16, 12, 31, 7, tzinfo=UTC),
            conversation_id="104857392017463_880012349876543",
        )
    ]


def messenger(**message_fields) -> dict:
    """messenger_message.json with its message replaced by these fields."""
    payload = load("messenger_message.json")
    payload["entry"][0]["messaging"][0]["message"] = {"mid": "m_test", **message_fields}
    return payload


@pytest.mark.parametrize(
    ("attachments", "text"),
    [
        ([{"type": "image", "payload": {"url": "https://cdn.fbsbx.com/v/t59/boom.jpg"}}], "[foto zonder tekst]"),
        (
            [{"type": "image", "payload": {"url": "https://cdn.fbsbx.com/s.png", "sticker_id": 369239263222822}}],
            "[sticker]",
        ),
        ([{"type": "audio", "payload": {"url": "https://cdn.fbsbx.com/v/audioclip.mp4"}}], "[spraakbericht]"),
        (
            [{"type": "image", "payload": {"url": "a"}}, {"type": "video", "payload": {"url": "b"}}],
            "[foto zonder tekst] [video zonder tekst]",
        ),
        (
            [{"type": "location", "title": "Kerkplein", "payload": {"coordinates": {"lat": 52.09, "long": 5.12}}}],
            "[locatie: Kerkplein (52.09, 5.12)]",
        ),
        ([{"type": "fallback", "payload": {"url": "https://zuiderveen.nl"}}], "[bericht van type fallback]"),
        ([], "[bericht zonder tekst]"),
    ],
)
def test_messenger_attachments_without_text_get_placeholders(attachments, text):
    assert [m.text for m in parse_webhook(messenger(attachments=attachments))] == [text]


def test_messenger_reply_to_becomes_in_reply_to():
    (reply,) = parse_webhook(messenger(text="Nee, dat klopt niet", reply_to={"mid": "m_earlier"}))
    assert reply.in_reply_to == "m_earlier"


def test_messenger_events_without_a_new_message_are_ignored():
    payload = load("messenger_message.json")
    event = payload["entry"][0]["messaging"][0]
    del event["message"]
    payload["entry"][0]["messaging"] = [
        {**event, "delivery": {"mids": ["m_ours"], "watermark": 1729156364518}},
        {**event, "read": {"watermark": 1729156364518}},
        {**event, "postback": {"title": "Aan de slag", "payload": "GET_STARTED"}},
        {**event, "reaction": {"mid": "m_ours", "action": "react", "emoji": "❤"}},
    ]
    assert parse_webhook(payload) == []


# Instagram ----------------------------------------------------------------------------------------


def test_instagram_reply_to_a_comment_and_our_own_comments():
    payload = load("instagram_comment.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["parent_id"] = "17996642381550000"
    assert [m.in_reply_to for m in parse_webhook(payload)] == ["17996642381550000"]
    value["from"] = {"id": "17841405822304914", "username": "gemeentezuiderveen"}
    assert parse_webhook(payload) == []


def test_instagram_deleted_and_echoed_direct_messages_are_ignored():
    payload = load("instagram_dm.json")
    inbound = payload["entry"][0]["messaging"][0]["message"]
    assert len(parse_webhook(payload)) == 1
    inbound["is_deleted"] = True
    assert parse_webhook(payload) == []
    del inbound["is_deleted"]
    inbound["is_echo"] = True
    assert parse_webhook(payload) == []


# Malformed input ----------------------------------------------------------------------------------


def test_a_malformed_item_is_skipped_and_logged_and_the_rest_kept(caplog):
    payload = load("whatsapp_batch.json")
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    messages.insert(1, {"id": "wamid.BROKEN", "type": "text", "text": {"body": "zonder afzender"}, "timestamp": "1"})
    messages.append(
        {"from": "31600000000", "id": "wamid.BADTIME", "type": "text", "text": {"body": "x"}, "timestamp": "gisteren"}
    )
    payload["entry"] = ["not an entry", payload["entry"][0], {"id": "1", "changes": "not a list"}]
    with caplog.at_level(logging.WARNING, logger="service.channels"):
        messages = parse_webhook(payload)
    assert [m.model_dump() for m in messages] == EXPECTED["whatsapp_batch.json"]
    assert len(caplog.records) == 4


def test_a_malformed_messaging_event_does_not_lose_its_neighbours():
    payload = load("messenger_message.json")
    event = payload["entry"][0]["messaging"][0]
    payload["entry"][0]["messaging"] = [{**event, "timestamp": None}, event, {"sender": {}, "message": {"mid": "m"}}]
    assert [m.external_id for m in parse_webhook(payload)] == [event["message"]["mid"]]


def test_the_log_names_what_was_wrong_but_never_the_citizens_data(caplog):
    payload = whatsapp(type="text", text={"body": "Mijn BSN is 123456782"})
    payload["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"] = "Sanne de Vries " * 20
    with caplog.at_level(logging.WARNING, logger="service.channels"):
        assert parse_webhook(payload) == []
    assert "author_name" in caplog.text
    assert "Sanne" not in caplog.text and "123456782" not in caplog.text


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "whatsapp",
        {"object": "user", "entry": []},
        {"object": None, "entry": []},
        {"entry": []},
        {"object": "page"},
        {"object": "page", "entry": {"id": PAGE_ID}},
    ],
)
def test_a_payload_that_is_not_a_meta_notification_is_refused(payload):
    with pytest.raises(PayloadError):
        parse_webhook(payload)


# Handshake and signatures -------------------------------------------------------------------------


def handshake(mode="subscribe", token="geheim-token", challenge="1158201444") -> dict[str, str]:
    return {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}


def test_verification_challenge_echoes_the_challenge_for_our_token_only():
    assert verification_challenge(handshake(), "geheim-token") == "1158201444"
    assert verification_challenge(handshake(token="geraden"), "geheim-token") is None
    assert verification_challenge(handshake(mode="unsubscribe"), "geheim-token") is None
    assert verification_challenge(handshake(challenge=""), "geheim-token") is None
    assert verification_challenge({"hub.mode": "subscribe", "hub.challenge": "1"}, "geheim-token") is None
    # An unset token must not match an empty one.
    assert verification_challenge(handshake(token=""), "") is None


def test_signature_matches_a_value_computed_independently():
    # printf '%s' '{"object":"page","entry":[]}' | openssl dgst -sha256 -hmac 'meta-app-secret-test'
    body = b'{"object":"page","entry":[]}'
    expected = "sha256=a640857104c26792672030181213abaae320160ed46595388acd4348f80b8978"
    assert sign_meta(body, SECRET) == expected
    verify_signature(body, expected, SECRET)


def test_a_signed_fixture_is_accepted():
    body = (FIXTURES / "whatsapp_batch.json").read_bytes()
    verify_signature(body, sign_meta(body, SECRET), SECRET)


@pytest.mark.parametrize(
    ("header", "body", "secret", "reason"),
    [
        (None, b"{}", SECRET, "missing"),
        ("", b"{}", SECRET, "missing"),
        ("sha1=" + sign_meta(b"{}", SECRET).removeprefix("sha256="), b"{}", SECRET, "malformed"),
        (sign_meta(b"{}", SECRET).removeprefix("sha256="), b"{}", SECRET, "malformed"),
        ("sha256=", b"{}", SECRET, "malformed"),
        ("sha256=é", b"{}", SECRET, "malformed"),
        (sign_meta(b"{}", SECRET), b"{} ", SECRET, "does not match"),
        (sign_meta(b"{}", "een ander geheim"), b"{}", SECRET, "does not match"),
        (sign_meta(b"{}", ""), b"{}", "", "not configured"),
    ],
)
def test_bad_signatures_are_refused_with_the_reason(header, body, secret, reason):
    with pytest.raises(SignatureError, match=reason):
        verify_signature(body, header, secret)
