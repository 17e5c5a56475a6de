"""X Account Activity webhooks: the CRC check, signatures, and every sample payload parsed to exact messages."""

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from service.channels import PayloadError, SignatureError
from service.channels.signing import sign_x
from service.channels.x import crc_response, parse_webhook, verify_signature

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "channels"
SECRET = "x-consumer-secret-test"
OURS = "1187406253718573056"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_bytes())


def message(**fields) -> dict:
    return {"author_name": None, "conversation_id": None, "in_reply_to": None, "permalink": None, **fields}


EXPECTED = {
    "x_tweet_mention.json": [
        message(
            channel="x",
            external_id="1847551976297046707",
            author_handle="@jdekker_zv",
            author_name="Jeroen Dekker",
            text="@GemZuiderveen de lantaarnpalen bij Dorpsstraat & Kerkpad doen het al een week niet, "
            "s avonds is het daar echt onveilig",
            sent_at=datetime(2024, 10, 19, 8, 14, 51, tzinfo=UTC),
            conversation_id="1847551976297046707",
            permalink="https://x.com/jdekker_zv/status/1847551976297046707",
        )
    ],
    "x_tweet_extended.json": [
        message(
            channel="x",
            external_id="1847947656266170372",
            author_handle="@anoukvl",
            author_name="Anouk van Leeuwen",
            text="@GemZuiderveen Mooi verhaal over de nieuwe fietsstraat, maar de Stationsweg ligt al maanden open en "
            "de omleiding is levensgevaarlijk voor schoolkinderen. Geen borden, geen verlichting en auto's rijden er "
            "gewoon 50. Wie is hier verantwoordelijk voor?",
            sent_at=datetime(2024, 10, 20, 10, 27, 9, tzinfo=UTC),
            conversation_id="1847608635341930496",
            in_reply_to="1847608635341930496",
            permalink="https://x.com/anoukvl/status/1847947656266170372",
        )
    ],
    "x_own_tweet.json": [],
    "x_retweet.json": [],
    "x_direct_message.json": [
        message(
            channel="x",
            external_id="1848435234337525765",
            author_handle="@wilmahendriks",
            author_name="Wilma Hendriks",
            text="Goedenavond, mijn parkeervergunning verloopt volgende week. "
            "Kan ik die online verlengen of moet ik naar het stadskantoor?",
            sent_at=datetime(2024, 10, 21, 18, 44, 36, 789000, tzinfo=UTC),
            conversation_id="1520834417096310785",
        )
    ],
}


def test_every_x_fixture_has_an_expectation():
    assert {path.name for path in FIXTURES.glob("x_*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_exactly_the_expected_messages(name):
    messages = parse_webhook(load(name))
    assert [m.model_dump() for m in messages] == EXPECTED[name]
    assert all(m.sent_at.tzinfo is UTC for m in messages)


def test_an_explicit_conversation_id_wins_over_the_reply_chain():
    payload = load("x_tweet_extended.json")
    payload["tweet_create_events"][0]["conversation_id_str"] = "1847000000000000000"
    assert [m.conversation_id for m in parse_webhook(payload)] == ["1847000000000000000"]


def test_a_quote_tweet_is_a_message_but_a_retweet_is_not():
    payload = load("x_tweet_mention.json")
    tweet = payload["tweet_create_events"][0]
    tweet["is_quote_status"] = True
    tweet["quoted_status"] = load("x_own_tweet.json")["tweet_create_events"][0]
    assert len(parse_webhook(payload)) == 1
    tweet["retweeted_status"] = tweet.pop("quoted_status")
    assert parse_webhook(payload) == []


def direct_message(sender_id: str, text: str, **message_data) -> dict:
    payload = load("x_direct_message.json")
    create = payload["direct_message_events"][0]["message_create"]
    create["sender_id"] = sender_id
    create["message_data"] = {"text": text, **message_data}
    return payload


def test_direct_messages_we_sent_and_other_event_types_are_ignored():
    assert parse_webhook(direct_message(OURS, "Dank voor uw bericht, we zoeken het voor u uit.")) == []
    payload = load("x_direct_message.json")
    payload["direct_message_events"][0]["type"] = "message_delete"
    assert parse_webhook(payload) == []
    likes_only = {"for_user_id": OURS, "favorite_events": [{"id": "a7ba59eab0bfcba386f7acedac279542"}]}
    assert parse_webhook(likes_only) == []


def test_a_direct_message_from_an_unknown_user_is_by_their_id():
    (unknown,) = parse_webhook(direct_message("987654321", "Hallo?"))
    assert (unknown.author_handle, unknown.author_name, unknown.conversation_id) == ("987654321", None, "987654321")


def test_a_photo_without_words_gets_a_placeholder():
    photo = {"attachment": {"type": "media", "media": {"id_str": "1848", "type": "photo"}}}
    assert [m.text for m in parse_webhook(direct_message("1520834417096310785", "", **photo))] == [
        "[foto zonder tekst]"
    ]


def test_a_malformed_event_is_skipped_and_logged_and_the_rest_kept(caplog):
    payload = load("x_tweet_mention.json")
    good = payload["tweet_create_events"][0]
    payload["tweet_create_events"] = [
        {**good, "created_at": "gisteren"},
        good,
        {key: value for key, value in good.items() if key != "user"},
        "not a tweet",
    ]
    payload["direct_message_events"] = [{"type": "message_create", "id": "1", "message_create": {}}]
    with caplog.at_level(logging.WARNING, logger="service.channels"):
        messages = parse_webhook(payload)
    assert [m.model_dump() for m in messages] == EXPECTED["x_tweet_mention.json"]
    assert len(caplog.records) == 4


@pytest.mark.parametrize("payload", [[], "tweet", {}, {"tweet_create_events": []}, {"for_user_id": ""}])
def test_a_payload_that_is_not_an_account_activity_event_is_refused(payload):
    with pytest.raises(PayloadError):
        parse_webhook(payload)


def test_crc_response_matches_a_value_computed_independently():
    # printf 'crc-token-7f3a9e' | openssl dgst -sha256 -hmac 'x-consumer-secret-test' -binary | base64
    expected = {"response_token": "sha256=SlruzZu/AD2CBLj68J1FbtZ6sBeKMJ+YMsrp8hfPd4Y="}
    assert crc_response("crc-token-7f3a9e", SECRET) == expected
    with pytest.raises(SignatureError, match="not configured"):
        crc_response("crc-token-7f3a9e", "")


def test_signature_matches_a_value_computed_independently():
    # printf '%s' '{"for_user_id":"1187406253718573056"}' | openssl dgst -sha256 -hmac 'x-consumer-secret-test' -binary
    #   | base64
    body = b'{"for_user_id":"1187406253718573056"}'
    expected = "sha256=TAeVXa4rXzm5iI2jdNPfoR/OMuqcZpMQgQ4vER/QjxE="
    assert sign_x(body, SECRET) == expected
    verify_signature(body, expected, SECRET)


def test_a_signed_fixture_is_accepted():
    body = (FIXTURES / "x_direct_message.json").read_bytes()
    verify_signature(body, sign_x(body, SECRET), SECRET)


@pytest.mark.parametrize(
    ("header", "body", "secret", "reason"),
    [
        (None, b"{}", SECRET, "missing"),
        ("", b"{}", SECRET, "missing"),
        ("sha1=" + sign_x(b"{}", SECRET).removeprefix("sha256="), b"{}", SECRET, "malformed"),
        (sign_x(b"{}", SECRET).removeprefix("sha256="), b"{}", SECRET, "malformed"),
        ("sha256=", b"{}", SECRET, "malformed"),
        (sign_x(b"{}", SECRET), b"{ }", SECRET, "does not match"),
        (sign_x(b"{}", "een ander geheim"), b"{}", SECRET, "does not match"),
        (sign_x(b"{}", ""), b"{}", "", "not configured"),
    ],
)
def test_bad_signatures_are_refused_with_the_reason(header, body, secret, reason):
    with pytest.raises(SignatureError, match=reason):
        verify_signature(body, header, secret)
