"""Small generated Dutch/English training data and a once-per-session trained model for the classifier tests."""

import random

import pytest

from classifier import Example, train

SERVICE = [
    "Hoe vraag ik een nieuw paspoort aan?",
    "Wanneer wordt het afval opgehaald in {street}?",
    "Kan ik online een afspraak maken voor mijn rijbewijs?",
    "Wat zijn de openingstijden van het stadskantoor?",
    "Ik ben verhuisd, hoe geef ik mijn nieuwe adres door?",
    "Hoeveel kost een parkeervergunning voor bewoners?",
    "Waar vind ik het formulier voor kwijtschelding van de gemeentelijke belastingen?",
    "Is mijn aanvraag voor een omgevingsvergunning al in behandeling?",
    "How do I apply for a parking permit?",
    "When is the bulky waste collected in {street}?",
    "Can I book an appointment for my ID card online?",
    "What are the opening hours of the city office?",
]
REPORTS = [
    ("Er ligt al dagen afval naast de container in de {street}", "waste", False),
    ("De lantaarnpaal bij {street} {number} is kapot, het is daar heel donker", "street_lighting", False),
    ("Groot gat in de weg op de {street}, gevaarlijk voor fietsers", "roads_traffic", False),
    ("Losse stoeptegels voor huisnummer {number} in de {street}", "roads_traffic", False),
    ("Een omgevallen boom ligt over de weg bij de {street}!", "green", True),
    ("Het riool is verstopt en de straat staat blank in de {street}", "water_sewers", False),
    ("De schommel in de speeltuin aan de {street} is kapot", "street_furniture_play", False),
    ("Dode kat op de stoep in de {street}", "animals_vermin", False),
    ("Ik ruik gas bij de {street}, komt uit een put", "other", True),
    ("Veel ratten bij de containers in de {street}", "animals_vermin", False),
    ("Street light broken on {street}, very dark at night", "street_lighting", False),
    ("Overflowing bins and litter everywhere on {street}", "waste", False),
    ("Open put zonder deksel op de {street}, levensgevaarlijk", "roads_traffic", True),
    ("Kabel hangt los boven de {street} na de storm", "other", True),
]
COMMUNICATION = [
    "Wat een mooie actie van de gemeente, complimenten!",
    "Schandalig dat de wethouder het zwembad wil sluiten",
    "Ik ben journalist bij het Dagblad, wie kan ik spreken over de begroting?",
    "Leuke video over de nieuwe bibliotheek 👍",
    "Waarom investeert de gemeente niet meer in jongeren? Slecht beleid.",
    "Doe mee met de inspraakavond over het nieuwe centrum!",
    "Great campaign, well done city council!",
    "The mayor should resign over this decision",
    "Klopt het gerucht dat de brug dicht gaat voor altijd?",
    "Bedankt voor de snelle reactie gisteren, top service",
]
STREETS = ["Kerkstraat", "Dorpsweg", "Stationsplein", "Lindenlaan", "Havenkade", "Molenstraat"]
SUFFIXES = ["", " @gemeente", " https://t.co/abc{number}", " 😡", " graag snel", " alvast bedankt!!", " #gemeente"]


def make_examples(n_per_label: int = 60, seed: int = 0) -> list[Example]:
    rng = random.Random(seed)

    def fill(template: str) -> str:
        text = template.format(street=rng.choice(STREETS), number=rng.randint(1, 200))
        return text + rng.choice(SUFFIXES).format(number=rng.randint(1, 999))

    examples = []
    for _ in range(n_per_label):
        examples.append(Example(fill(rng.choice(SERVICE)), "service_question", lang="nl"))
        template, subcategory, urgent = rng.choice(REPORTS)
        examples.append(Example(fill(template), "public_space_report", subcategory, urgent, lang="nl"))
        examples.append(Example(fill(rng.choice(COMMUNICATION)), "communication", lang="en"))
    return examples


@pytest.fixture(scope="session", name="make_examples")
def make_examples_fixture():
    return make_examples


@pytest.fixture(scope="session")
def examples() -> list[Example]:
    return make_examples()


@pytest.fixture(scope="session")
def model(examples):
    return train(examples, seed=0, cv_folds=0)
