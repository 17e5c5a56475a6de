"""Personal data in citizens' messages: hand-picked examples of what is masked and kept, and hypothesis properties."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.privacy import PLACEHOLDERS, Finding, find_personal_data, is_valid_bsn, is_valid_iban, mask

# Computed here rather than with is_valid_bsn, so the properties do not trust the code they test.
ELEVEN_TEST_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def eleven_test_sum(digits: str) -> int:
    return sum(weight * int(digit) for weight, digit in zip(ELEVEN_TEST_WEIGHTS, digits))


def kinds_and_values(text: str) -> list[tuple[str, str]]:
    return [(finding.kind, finding.value) for finding in find_personal_data(text)]


# The eleven-test --------------------------------------------------------------------------------


@pytest.mark.parametrize("digits", ["111222333", "123456782", "012345672", "12345672", "999999990"])
def test_numbers_passing_the_eleven_test_are_valid_bsns(digits):
    assert is_valid_bsn(digits)


@pytest.mark.parametrize(
    "digits",
    [
        "123456789",  # weighted sum 147
        "111222334",
        "123456783",
        "000000000",  # divisible by 11, but not a number anyone is given
        "00000000",
        "1234567",
        "1234567820",
        "12345678a",
        "123.456.782",
        "",
        "١٢٣٤٥٦٧٨٢",  # Arabic-Indic digits pass str.isdigit(), never the BSN format
    ],
)
def test_other_digit_strings_are_not_valid_bsns(digits):
    assert not is_valid_bsn(digits)


# IBAN -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "candidate",
    [
        "NL91ABNA0417164300",
        "NL91 ABNA 0417 1643 00",
        "nl91abna0417164300",
        "BE68539007547034",
        "DE89370400440532013000",
        "GB82WEST12345698765432",
        "FR1420041010050500013M02606",
        "NO9386011117947",  # 15 characters, the shortest in use
        "GB86MASS12345698765432",
    ],
)
def test_ibans_with_the_right_length_and_check_digits_are_valid(candidate):
    assert is_valid_iban(candidate)


@pytest.mark.parametrize(
    "candidate",
    [
        "NL91ABNA0417164301",  # one digit changed
        "NL91ABNA0417164310",  # two digits swapped
        "NL92ABNA0417164300",  # check digits changed
        "NL91ABNA041716430",  # one short for NL
        "NL91ABNA04171643000",
        "BE685390075470340",  # longer than Belgium's 16
        "NL91ABNA04171643O0",  # letter O for zero
        "NL9ABNA0417164300",
        "NL5312340417164300",  # right length and mod-97, but digits where the bank's four letters go
        "GB86MAß12345698765432",  # "ß".upper() is "SS", which would make this the valid one above
        "XX00",
        "",
    ],
)
def test_ibans_with_a_wrong_length_or_check_digits_are_invalid(candidate):
    assert not is_valid_iban(candidate)


def test_ibans_are_found_compact_grouped_and_in_lower_case():
    for written in [
        "NL91ABNA0417164300",
        "NL91 ABNA 0417 1643 00",
        "NL91 ABNA 0417164300",
        "nl91 abna 0417 1643 00",
        "BE68 5390 0754 7034",
    ]:
        assert kinds_and_values(f"Graag terugstorten op {written}, dank!") == [("iban", written)]


@pytest.mark.parametrize(
    "message",
    [
        # Both read as an IBAN passing mod-97 once the spaces between the words are dropped.
        "Sinds wk13 is de lamp in onze straat kapot.",
        "Sinds wk12 staat de container nog steeds vol.",
    ],
)
def test_words_after_a_code_are_not_read_as_an_iban(message):
    assert find_personal_data(message) == []


def test_an_iban_with_a_typo_is_neither_masked_nor_read_as_a_phone_number():
    assert kinds_and_values("rekening NL91 ABNA 0417 1643 01 graag") == []


# Phone numbers ----------------------------------------------------------------------------------

PHONE_NUMBERS = [
    "06-12345678",
    "06 1234 5678",
    "06 12 34 56 78",
    "0612345678",
    "+31 6 12345678",
    "+31612345678",
    "0031612345678",
    "+31(0)6-12345678",
    "+31 06 12345678",  # a common slip
    "+31 (0)20 123 4567",
    "010-1234567",
    "0201234567",
    "+31 20 123 4567",
    "070 - 123 45 67",
    "(010) 123 4567",
    "+32 470 12 34 56",
    "+32 (0)470 12 34 56",
    "+49 151 23456789",
    "0032 470 12 34 56",
]


@pytest.mark.parametrize("number", PHONE_NUMBERS)
def test_phone_numbers_are_masked_whole(number):
    message = f"Kunt u mij terugbellen op {number}? Alvast bedankt."
    assert mask(message).text == "Kunt u mij terugbellen op [TELEFOONNUMMER]? Alvast bedankt."
    assert kinds_and_values(message) == [("phone", number)]


@pytest.mark.parametrize(
    "message",
    [
        "Ik heb 14 020 gebeld maar niemand nam op.",  # municipal number: 14 + area code
        "Bel 14020 voor een afspraak.",
        "Bij nood altijd 112 bellen.",
        "De gratis lijn 0800-1234 en 0800 0123456 werkten niet.",
        "Betaald nummer 0900-1234567 of 0900 8844.",
        "Of via +31 800 1234567.",
        "Mijn postcode is 1234 AB, of 1234AB zonder spatie.",
        "Afspraak op 21-11-2026 om 10:30, of 01-11-2026 06:30.",
        "Datum 01.11.2026 en 2026-11-21.",
        "Het kostte € 1.234,56 en daarna EUR 250,-.",
        "Ik woon op Kerkstraat 12, naast Kerkstraat 12a en nummer 104.",
        "Ordernummer: 0612345678 is nooit geleverd.",
        "Tussen 0 en 10 uur, bus 12 of lijn 300.",
        "Ik heb vanaf 05-03-2026 14 dagen gewacht.",  # ten digits that start with 0
        "Een stijging van +250000 bezoekers.",
    ],
)
def test_public_numbers_and_ordinary_numbers_are_kept(message):
    assert find_personal_data(message) == []
    assert mask(message).text == message


def test_a_bsn_is_not_a_phone_number():
    assert kinds_and_values("nummer 123456782 graag") == [("bsn", "123456782")]


def test_digits_after_a_country_code_are_a_phone_number_even_when_they_pass_the_eleven_test():
    assert is_valid_bsn("123456782")
    assert kinds_and_values("bel +31 123456782") == [("phone", "+31 123456782")]


def test_a_number_after_a_country_code_is_one_phone_number_even_when_part_of_it_passes_the_eleven_test():
    assert kinds_and_values("Mijn Duitse nummer: +49 30 123456782") == [("phone", "+49 30 123456782")]


def test_a_date_directly_before_a_phone_number_stays():
    message = "Op 01-11-2026 0612345678 gebeld"
    assert mask(message).text == "Op 01-11-2026 [TELEFOONNUMMER] gebeld"


def test_a_phone_number_in_parentheses_keeps_its_parentheses():
    assert mask("Bel mij (0612345678).").text == "Bel mij ([TELEFOONNUMMER])."


# BSN --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "value"),
    [
        ("Mijn bsn is 123456782.", "123456782"),
        ("bsn: 123.456.782", "123.456.782"),
        ("BSN 123 456 782 graag", "123 456 782"),
        ("burgerservicenummer (BSN): 111222333", "111222333"),
        ("sofinummer 1234.56.782", "1234.56.782"),
        ("BSN123456782", "123456782"),
        ("Het gaat om 111222333, alvast dank", "111222333"),  # no keyword: the eleven-test suffices
        ("bsn 12345672", "12345672"),  # eight digits, with the keyword
    ],
)
def test_bsns_are_found_in_their_written_forms(message, value):
    assert kinds_and_values(message) == [("bsn", value)]


@pytest.mark.parametrize(
    "message",
    [
        "Het gaat om 123456789.",  # fails the eleven-test
        "Referentie 1234567820 en 11234567820.",  # longer digit runs
        "Het kost € 123456782,00.",
        "Het kost €123.456.782",
        "Het kost 123456782 euro.",
        "Ordernummer 123456782 is niet geleverd.",
        "Mijn zaaknummer is 123456782",
        "Het getal 12345672 staat los.",  # eight digits need the keyword
        "Bonnummer 12-123456782 en 123456782-01 en 1.123456782",
        "Zie 06 123 456 782 en 123 456 782 12",  # spaced groups that may belong to the neighbour
        "Postcode 1234 AB, 123456782AB",
        "Volg @123456782 en reken 1+123456782 uit.",
    ],
)
def test_numbers_that_are_not_bsns_are_kept(message):
    assert [finding for finding in find_personal_data(message) if finding.kind == "bsn"] == []


def test_an_iban_is_not_read_as_a_bsn_or_phone_number():
    assert [finding.kind for finding in find_personal_data("IBAN NL91ABNA0417164300")] == ["iban"]


# E-mail -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        ("mail jan.jansen@example.nl.", "mail [E-MAILADRES]."),
        ("(jan@example.nl)", "([E-MAILADRES])"),
        ("<j.de-vries+webcare@gemeente.utrecht.nl>,", "<[E-MAILADRES]>,"),
        ("mailto:info@sub.example.co.uk!", "mailto:[E-MAILADRES]!"),
        ("mail renée@voorbeeld.nl", "mail [E-MAILADRES]"),
        ("jan@example.nl.123456782", "[E-MAILADRES].[BSN]"),
    ],
)
def test_email_addresses_are_masked_and_their_punctuation_kept(message, masked):
    assert mask(message).text == masked


@pytest.mark.parametrize("message", ["@gemeente bedankt!", "mail naar jan@ of @example.nl", "a@b"])
def test_handles_and_broken_addresses_are_kept(message):
    assert find_personal_data(message) == []


# A whole message --------------------------------------------------------------------------------


def test_a_citizens_message_is_masked_and_everything_else_is_untouched():
    message = (
        "Mijn bsn is 123456782 en rek NL91 ABNA 0417 1643 00, bel me op 06-12345678 of mail "
        "jan.jansen@example.nl. Ik woon op Kerkstraat 12, 1234 AB Utrecht"
    )
    masked = mask(message)
    assert masked.text == (
        "Mijn bsn is [BSN] en rek [IBAN], bel me op [TELEFOONNUMMER] of mail "
        "[E-MAILADRES]. Ik woon op Kerkstraat 12, 1234 AB Utrecht"
    )
    assert masked.findings == (
        Finding("bsn", 12, 21, "123456782"),
        Finding("iban", 29, 51, "NL91 ABNA 0417 1643 00"),
        Finding("phone", 63, 74, "06-12345678"),
        Finding("email", 83, 104, "jan.jansen@example.nl"),
    )


def test_placeholders_are_never_matched_again():
    text = " ".join(PLACEHOLDERS.values())
    assert find_personal_data(text) == []
    assert mask(text).text == text


# Properties -------------------------------------------------------------------------------------

FILLER = [
    "Goedemiddag,",
    "ik heb een vraag over mijn aanslag.",
    "De lantaarnpaal in onze straat is kapot.",
    "Kunt u mij terugbellen?",
    "Mijn burgerservicenummer is",
    "bsn:",
    "(zie bijlage)",
    "Met vriendelijke groet, Jan de Vries",
    "Alvast bedankt!",
    "het gaat om",
    "—",
    "ontvangen op maandag.",
]
filler = st.lists(st.sampled_from(FILLER), max_size=4).map(" ".join)


def with_check_digit(first_eight: str) -> str:
    return first_eight + str(eleven_test_sum(first_eight + "0") % 11)  # the ninth digit counts -1


# A check digit of 10 cannot be written, so those prefixes are not BSNs.
valid_bsns = (
    st.text("0123456789", min_size=8, max_size=8)
    .filter(lambda first_eight: eleven_test_sum(first_eight + "0") % 11 != 10 and first_eight != "00000000")
    .map(with_check_digit)
)


def written(digits: str, style: str) -> str:
    groups = [digits[:3], digits[3:6], digits[6:]]
    return {"plain": digits, "dots": ".".join(groups), "spaces": " ".join(groups)}[style]


@given(
    digits=valid_bsns,
    style=st.sampled_from(["plain", "dots", "spaces"]),
    before=filler,
    after=filler,
    closing=st.sampled_from(["", ".", ",", "!", ")"]),
)
def test_a_valid_bsn_in_a_sentence_is_always_found(digits, style, before, after, closing):
    number = written(digits, style)
    text = f"{before} {number}{closing} {after}"
    start = len(before) + 1
    assert find_personal_data(text) == [Finding("bsn", start, start + len(number), number)]


@given(
    digits=st.text("0123456789", min_size=9, max_size=9).filter(lambda d: eleven_test_sum(d) % 11 != 0),
    before=filler,
    after=filler,
)
def test_nine_digits_failing_the_eleven_test_are_never_a_bsn(digits, before, after):
    assert find_personal_data(f"{before} {digits} {after}") == []


@given(st.text(alphabet=st.characters(exclude_categories=["Nd"], exclude_characters="@")))
def test_text_without_digits_or_at_signs_has_no_findings(text):
    assert find_personal_data(text) == []


# Fragments chosen to collide: digit groups and joiners around numbers, placeholders and keywords.
FRAGMENTS = [
    " ", " ", ".", ",", "-", "/", ":", "+", "(", ")", "(0)", "€", "[", "]", "@", "a", "AB", "\n",
    "bsn", "bsn: ", "ordernummer ", "euro", "+31 ", "0031", "06", "0", "00", "31", "6", "123", "456", "782",
    "123456782", "111222333", "12345672", "0612345678", "06-12345678", "+32 470 12 34 56", "0800",
    "NL91", "ABNA", "NL91ABNA0417164300", "NL91 ABNA 0417 1643 00", "NL91 ABNA 0417 1643 01", "BE68539007547034",
    "jan@example.nl", "a@b.", "x.nl", "jan", "kvk ", "eur ",
    "[BSN]", "[IBAN]", "[TELEFOONNUMMER]", "[E-MAILADRES]",
]  # fmt: skip
colliding_texts = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.text("0123456789", min_size=1, max_size=10)), max_size=14
).map("".join)
any_text = st.one_of(colliding_texts, st.text(), st.text("0123456789 .-+()@abNL€[]", max_size=60))


@settings(max_examples=300)
@given(any_text)
# A placeholder must hold back its neighbour as the characters it replaced did: these spaced BSNs are
# ambiguous next to the phone number, and stay so next to "[TELEFOONNUMMER]"; nothing in an address
# or account number may count as a label, a currency or part of a neighbouring number.
@example("0612345678 123 456 782")
@example("123 456 782 0612345678")
@example("a@b.kvk 123456782")
@example("a@b.eur 123456782")
@example("123456782 euro@example.nl")
@example("BE68539007547034 0612345678")
@example("jan@example.nl-jan@example.nl")
def test_masking_twice_changes_nothing(text):
    once = mask(text).text
    assert mask(once).text == once


@settings(max_examples=300)
@given(any_text)
def test_findings_are_sorted_do_not_overlap_and_quote_the_text(text):
    findings = find_personal_data(text)
    for finding in findings:
        assert text[finding.start : finding.end] == finding.value
        assert finding.kind in PLACEHOLDERS
    for first, second in zip(findings, findings[1:]):
        assert first.end <= second.start
