"""Duplicates in the world, without a database: street addresses in Dutch text and text similarity."""

import pytest

from service.duplicates import same_fault, similarity, street_address, words


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Er zit een gat in de weg op de Kerkstraat 12", "kerkstraat 12"),
        ("Gat in het fietspad op de Molenweg ter hoogte van nr 14, vanavond", "molenweg 14"),
        ("Lamp kapot Van der Helststraat 12a", "helststraat 12a"),
        ("Afval naast Dorpsplein nummer 3 B", "dorpsplein 3b"),
        ("boom om op de Stationslaan 101!!", "stationslaan 101"),
        ("Prinsengracht 263 stinkt", "prinsengracht 263"),
        ("Kerkstraat12 weer vol afval", "kerkstraat 12"),
        ("bank kapot in het Wilhelminapark 5", "wilhelminapark 5"),
        ("Hoogstraat 12 en 14 geen licht", "hoogstraat 12"),
        ("Ruïnestraat 4", "ruinestraat 4"),
        # No number, or no street: not an address.
        ("Lantaarnpaal kapot op de Kerkstraat", None),
        ("Al 3 weken een gat in het fietspad", None),
        ("Postcode 1012 AB in Amsterdam", None),
        ("De verlichting 12 keer gemeld", None),
    ],
)
def test_street_addresses_are_found_and_normalised(text, address):
    assert street_address(text) == address


def test_words_are_lower_case_without_accents_punctuation_or_stop_words():
    assert words("De lantaarnpaal bij de Speeltuin is KAPOT! Ruïne") == {"lantaarnpaal", "speeltuin", "kapot", "ruine"}


def test_similarity_is_the_jaccard_index_of_the_words():
    assert similarity("Lantaarnpaal kapot bij de speeltuin", "De lantaarnpaal bij de speeltuin is kapot!") == 1.0
    # {lantaarnpaal, kapot, speeltuin} and {lantaarnpaal, kapot, school}: 2 shared of 4.
    assert similarity("Lantaarnpaal kapot bij de speeltuin", "lantaarnpaal kapot bij school") == 0.5
    assert similarity("Boom omgewaaid", "Afvalbak vol") == 0.0
    assert similarity("de het een", "Boom omgewaaid") == 0.0


@pytest.mark.parametrize(
    ("new", "old", "reason"),
    [
        ("Boom over het fietspad, Molenweg 14", "Omgewaaide tak ligt op Molenweg 14", "same address"),
        ("Lantaarnpaal kapot bij de speeltuin", "Bij de speeltuin is de lantaarnpaal kapot", "similar text"),
        # Words alike (2 of 6 shared), but two different addresses: two places.
        ("Gat in de weg Kerkstraat 12", "Gat in fietspad Kerkstraat 40", None),
        ("Gat in de weg Kerkstraat 12", "Gat in de weg bij de kerk", "similar text"),
        ("Gat in de weg", "Afvalbak vol bij school", None),
    ],
)
def test_the_same_fault_is_the_same_address_or_similar_text(new, old, reason):
    assert same_fault(new, old) == reason
