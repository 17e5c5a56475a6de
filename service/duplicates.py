"""Duplicates in the world: a new public-space report about a fault an open ticket already describes is linked to it."""

import functools
import logging
import re
import unicodedata
from datetime import timedelta

from sqlmodel import Session, col, select

from models import OPEN_STATUSES, Category, Direction, Message, Ticket
from service.tickets import record

log = logging.getLogger(__name__)

WINDOW = timedelta(hours=48)
MIN_SIMILARITY = 0.3
# Enough for a day's storm of reports about one fallen tree, without reading the whole table.
MAX_CANDIDATES = 200

STREET_SUFFIXES = (
    "straat", "laan", "weg", "plein", "gracht", "kade", "singel", "dijk", "hof", "pad", "steeg", "dreef",
    "markt", "park", "plantsoen", "baan", "wal", "haven", "burgwal", "erf", "veld", "kwartier",
)  # fmt: skip
# "Kerkstraat 12", "Molenweg ter hoogte van nr 14", "Dorpsplein nummer 3a": the street word and its number.
STREET_ADDRESS = re.compile(
    r"\b([a-z][a-z'\-]*(?:" + "|".join(STREET_SUFFIXES) + r"))"
    r"(?:\s+(?:ter\s+hoogte\s+van|thv|bij|naast|tegenover|voor))?"
    r"(?:\s+(?:nr|no|nummer|huisnummer)\.?)?"
    r"\s*(\d{1,5})(?:\s?([a-z])\b)?"
)
WORD = re.compile(r"[a-z0-9]+")
# Words that say nothing about the fault; without them two unrelated reports share far fewer words.
STOP_WORDS = frozenset(
    """
    de het een en of in op aan bij van voor naar met om te is zijn was er al nog wel niet geen ook dat die dit
    deze daar hier wat wie waar wanneer hoe ik je jij u we wij ze zij hij mijn uw ons onze jullie heel erg echt
    weer alweer sinds al dus maar want als dan nu toch even graag aub svp the a an of on at in to is it this that
    and or for with there here please again
    """.split()
)


def normalise(text: str) -> str:
    """Lower case without accents, so "Ruïne" and "ruine" are one word."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


# A storm compares each new report with the same open reports again and again: each text is read once.
@functools.lru_cache(maxsize=4096)
def words(text: str) -> frozenset[str]:
    return frozenset(w for w in WORD.findall(normalise(text)) if w not in STOP_WORDS)


def similarity(first: str, second: str) -> float:
    """Jaccard similarity of the two texts' normalised words (0 when either has none)."""
    a, b = words(first), words(second)
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


@functools.lru_cache(maxsize=4096)
def street_address(text: str) -> str | None:
    """The first "street number[letter]" in the text, normalised ("kerkstraat 12a"), or None."""
    found = STREET_ADDRESS.search(normalise(text))
    if found is None:
        return None
    street, number, letter = found.groups()
    return f"{street} {number}{letter or ''}"


def same_fault(new_text: str, old_text: str) -> str | None:
    """Why two reports of one subcategory describe the same fault ("same address", "similar text"), or None."""
    address, old_address = street_address(new_text), street_address(old_text)
    if address is not None and address == old_address:
        return "same address"
    if address is not None and old_address is not None:
        return None  # two different places, however alike the words
    if similarity(new_text, old_text) >= MIN_SIMILARITY:
        return "similar text"
    return None


def link_duplicate(session: Session, ticket: Ticket, text: str) -> Ticket | None:
    """Link a new public-space report to the first open ticket about the same fault; returns that ticket."""
    if ticket.category != Category.public_space_report or ticket.duplicate_of_id is not None:
        return None
    subcategory = Ticket.subcategory == ticket.subcategory if ticket.subcategory else col(Ticket.subcategory).is_(None)
    candidates = session.exec(
        select(Ticket.id, _first_text())
        .where(
            Ticket.category == Category.public_space_report,
            subcategory,
            col(Ticket.status).in_(OPEN_STATUSES),
            col(Ticket.duplicate_of_id).is_(None),
            Ticket.id != ticket.id,
            Ticket.sent_at >= ticket.sent_at - WINDOW,
            Ticket.sent_at <= ticket.sent_at,
        )
        .order_by(col(Ticket.id))
        .limit(MAX_CANDIDATES)
    ).all()
    for candidate_id, first_text in candidates:
        reason = same_fault(text, first_text) if first_text is not None else None
        if reason is None:
            continue
        candidate = session.get_one(Ticket, candidate_id)
        ticket.duplicate_of_id = candidate.id
        session.add(ticket)
        record(session, ticket, "linked_duplicate", {"duplicate_of": candidate.id, "reason": reason})
        record(session, candidate, "linked_duplicate", {"duplicate": ticket.id, "reason": reason})
        log.info("ticket %s linked as a duplicate of ticket %s (%s)", ticket.id, candidate.id, reason)
        return candidate
    return None


def _first_text():
    """A ticket's first inbound text (read with the candidates, in the same statement): it describes the fault,
    later ones are often "any news?"."""
    return (
        select(Message.text)
        .where(Message.ticket_id == Ticket.id, Message.direction == Direction.inbound)
        .order_by(col(Message.sent_at), col(Message.id))
        .limit(1)
        .correlate(Ticket)
        .scalar_subquery()
    )
