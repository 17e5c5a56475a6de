"""Webhook signatures as Meta and X compute them, for verifying requests and for signing test requests."""

import base64
import hashlib
import hmac

from service.channels import SignatureError


def sign_meta(raw_body: bytes, app_secret: str) -> str:
    """The X-Hub-Signature-256 header value Meta sends with this body."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def sign_x(raw_body: bytes, consumer_secret: str) -> str:
    """The x-twitter-webhooks-signature header value X sends with this body (also the CRC response token)."""
    digest = hmac.new(consumer_secret.encode(), raw_body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def check_signature(header: str | None, expected: str, header_name: str) -> None:
    """Raises SignatureError unless header equals expected ("sha256=<digest>"), compared in constant time."""
    if not header:
        raise SignatureError(f"missing {header_name} header")
    scheme, equals, digest = header.strip().partition("=")
    if scheme != "sha256" or not equals or not digest or not digest.isascii():
        raise SignatureError(f"malformed {header_name} header: expected 'sha256=<signature>'")
    if not hmac.compare_digest(digest.encode(), expected.removeprefix("sha256=").encode()):
        raise SignatureError(f"{header_name} does not match the request body")
