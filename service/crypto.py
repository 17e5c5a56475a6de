"""Encryption of kept original texts: Fernet, with a key derived from WEBCARE_SECRET_KEY by HKDF."""

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.errors import WebcareError
from service.settings import Settings

# A purpose of its own: the same secret key signs sessions, and a derived key must not serve both.
KEY_PURPOSE = b"webcare-router: original message texts, v1"


class CannotDecrypt(WebcareError):
    status_code = 409


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_PURPOSE).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _for(settings: Settings) -> Fernet:
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if not secret:
        raise CannotDecrypt("No WEBCARE_SECRET_KEY is set, so original texts cannot be encrypted or read")
    return _fernet(secret)


def encrypt(settings: Settings, text: str) -> str:
    return _for(settings).encrypt(text.encode()).decode("ascii")


def decrypt(settings: Settings, token: str) -> str:
    try:
        return _for(settings).decrypt(token.encode("ascii")).decode()
    except InvalidToken:
        # Fernet authenticates: a changed secret key (or a tampered value) ends here, never in garbage.
        raise CannotDecrypt("The original text cannot be decrypted with the current WEBCARE_SECRET_KEY") from None
