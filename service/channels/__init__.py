"""Channel adapters: check each platform's webhook signature and turn its payload into MessageCreate values."""


class SignatureError(Exception):
    """The webhook's signature header is missing or malformed, or it does not match the body."""


class PayloadError(Exception):
    """The webhook body is not the platform's shape."""
