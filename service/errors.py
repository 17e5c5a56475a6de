"""The service's error family, rendered as JSON {"detail": ...} by one handler."""

from typing import Any


class WebcareError(Exception):
    status_code = 400

    def __init__(self, message: Any, status_code: int | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers


class NotFound(WebcareError):
    status_code = 404


class Conflict(WebcareError):
    status_code = 409


class Unauthorized(WebcareError):
    status_code = 401

    def __init__(self, message: Any = "Not authenticated"):
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(WebcareError):
    status_code = 403


class InvalidField(WebcareError):
    """A well-formed request whose field breaks a rule only the service can check (like a future sent_at)."""

    status_code = 422

    def __init__(self, field: str, message: str):
        super().__init__([{"loc": ["body", field], "msg": message, "type": "value_error"}])
