"""The curated danger-phrase detector."""

import pytest

from classifier.text import normalize
from classifier.urgency import urgent_phrase


@pytest.mark.parametrize(
    "text",
    [
        "Ik ruik gas bij de Kerkstraat 4",
        "Sterke gaslucht in het portiek!!",
        "Er ligt een boom over de weg bij de rotonde",
        "Omgewaaide boom blokkeert het fietspad",
        "Open put zonder deksel op de stoep",
        "Het putdeksel is weg in de Lindenlaan",
        "Er hangt een kabel los boven de straat",
        "Loshangende stroomkabel na de storm",
        "Overstroming in de tunnel, auto's staan vast",
        "Smell of gas near the school",
        "Fallen tree blocking the road on Main street",
        "Missing manhole cover on the bike path",
        "Live wire hanging over the playground",
        "Schuur staat in brand naast het park",
    ],
)
def test_danger_phrases_are_urgent(text):
    assert urgent_phrase(normalize(text)) is not None


@pytest.mark.parametrize(
    "text",
    [
        "Wanneer wordt het gft opgehaald?",
        "De lantaarnpaal is kapot",
        "Gat in de weg, gevaarlijk voor fietsers",
        "Mooie bomen in het park, complimenten",
        "Hoe vraag ik een gasaansluiting aan voor mijn nieuwbouwwoning?",
        "The council should plant more trees",
        "Kan de brandweerkazerne open voor een rondleiding?",
    ],
)
def test_ordinary_messages_are_not_urgent(text):
    assert urgent_phrase(normalize(text)) is None
