"""Parsing helpers shared by the channel adapters."""

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from models import MAX_TEXT_LENGTH

logger = logging.getLogger("service.channels")

Item = TypeVar("Item")


def each_item(items: Any, what: str, convert: Callable[[Any], Iterable[Item]]) -> list[Item]:
    """Converts the items of a list one by one; a malformed one is logged and skipped, so it never loses the rest."""
    if items is None:
        return []
    if not isinstance(items, list):
        logger.warning("skipped %s: expected a list, got %s", what, type(items).__name__)
        return []
    found: list[Item] = []
    for position, item in enumerate(items):
        try:
            found.extend(convert(item))
        except (LookupError, TypeError, ValueError, AttributeError) as error:
            logger.warning("skipped malformed %s #%d: %s", what, position, describe(error))
    return found


def describe(error: Exception) -> str:
    # Citizens' texts are personal data: name the failing fields, never echo their values into the log.
    if callable(getattr(error, "errors", None)):  # pydantic's ValidationError (we import only models)
        problems = error.errors(include_url=False, include_input=False, include_context=False)
        return "; ".join(f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}" for problem in problems)
    if isinstance(error, KeyError):
        return f"missing field {error}"
    return f"{type(error).__name__}: {error}"


def text_or(text: Any, placeholder: str) -> str:
    """The text when it has any words, else the placeholder, so that a message without words still reaches the queue."""
    if not isinstance(text, str) or not text.strip():
        return placeholder
    # Cut rather than drop: an over-long post is still a message someone should answer.
    return text if len(text) <= MAX_TEXT_LENGTH else text[: MAX_TEXT_LENGTH - 1] + "…"
