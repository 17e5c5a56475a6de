"""Finding and masking personal data (BSN, IBAN, phone number, e-mail address) in what citizens send."""

import re
import string
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate


@dataclass(frozen=True)
class Finding:
    kind: str  # "bsn" | "iban" | "phone" | "email"
    start: int  # offsets into the original text
    end: int
    value: str  # the original characters


@dataclass(frozen=True)
class Masked:
    text: str  # the text with each finding replaced by its placeholder
    findings: tuple[Finding, ...]


PLACEHOLDERS = {"bsn": "[BSN]", "iban": "[IBAN]", "phone": "[TELEFOONNUMMER]", "email": "[E-MAILADRES]"}

DIGITS = frozenset("0123456789")
ASCII_ALNUM = frozenset(string.ascii_letters + string.digits)
SPACES = " \u00a0"

# Punctuation that joins two digit groups into one run ("12-123456782", "123456782,00", "14:30").
JOINERS = frozenset(".,-–/:+")

IBAN_LENGTHS = {
    "NL": 18, "BE": 16, "DE": 22, "FR": 27, "GB": 22, "LU": 20, "ES": 24, "IT": 27, "AT": 20,
    "CH": 21, "PL": 28, "PT": 25, "IE": 22, "DK": 18, "SE": 24, "NO": 15, "FI": 18,
}  # fmt: skip

BSN_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)

BSN_FORMAT = re.compile(r"[0-9]{8,9}")
NL_IBAN_FORMAT = re.compile(r"NL[0-9]{2}[A-Z]{4}[0-9]{10}")
IBAN_FORMAT = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+")

EMAIL = re.compile(
    r"(?<![\w.%+\-\]])"  # "]": a placeholder stands where the address's own characters were
    r"[\w%+\-]+(?:\.[\w%+\-]+)*"
    r"@(?:[^\W_][\w\-]*\.)+[^\W\d_]{2,}"
)
IBAN_START = re.compile(r"[A-Za-z]{2}[0-9]{2}")
# Lookahead so that every start position is tried: a rejected reading must not hide another one.
# The leading "(?=[0-9])" only lets the engine skip letters fast (2-3x on a message).
BSN_CANDIDATE = re.compile(
    r"(?=[0-9])(?<![0-9])(?=("
    r"[0-9]{3}([. \u00a0])[0-9]{3}\2[0-9]{3}"  # 123.456.782, 123 456 782
    r"|[0-9]{4}\.[0-9]{2}\.[0-9]{3}"  # 1234.56.782, how the sofinummer used to be printed
    r"|[0-9]{8,9}"
    r")(?![0-9]))"
)
PHONE_START = re.compile(r"(?=\+[1-9]|00[1-9]|0[1-9]|\(0[1-9])")
# "(0)" is the trunk prefix after a country code, "(010)" an area code.
PHONE_GROUP = re.compile(r"\((0|0[1-9][0-9]{0,2})\)|([0-9]+)")
PHONE_SEPARATOR = re.compile(r"[ \u00a0]?[-–./][ \u00a0]?|[ \u00a0]")
DATE_PREFIX = re.compile(r"[0-9]{1,2}([-./])[0-9]{1,2}\1(?:[0-9]{4}|[0-9]{2}(?![-./][0-9]))")

# Labels are only believed when they directly precede the number ("bsn: ", "mijn sofinummer is "), and
# never inside an address ("a@b.kvk"): masking the address must not change how its neighbour is read.
LABEL_TAIL = r"\.?(?:\s*\([a-z]+\))?[\s:#=.\-]*(?:(?:is|was|luidt)\b[\s:]*)?$"
BSN_KEYWORD_BEFORE = re.compile(
    r"(?<![\w.@])(?:bsn|burgerservicenummer|sofinummer|sofi)(?:[- ]?(?:nummer|nr))?" + LABEL_TAIL, re.IGNORECASE
)
# A number its writer labels as something else is that thing, even when it happens to pass the eleven-test.
OTHER_NUMBER_LABEL_BEFORE = re.compile(
    r"(?<![\w.@])(?:"
    r"(?:order|bestel|factuur|klant|zaak|dossier|referentie|polis|artikel|pakket|zending|contract|meldings?"
    r"|aanvraag|registratie|transactie|kvk|track(?:ing)?)[- ]?(?:nummer|nr)"
    r"|(?:betalings)?kenmerk|referentie|kvk|track\s*(?:&|en|and)\s*trace(?:code)?"
    r")" + LABEL_TAIL,
    re.IGNORECASE,
)
AMOUNT_BEFORE = re.compile(r"(?:[€$£ƒ]|(?<![\w.@])(?:eur|euro|fl)\b\.?)[ \u00a0]*$", re.IGNORECASE)
AMOUNT_AFTER = re.compile(r"[ \u00a0]*(?:,-|€|(?:eur|euro)(?![\w@]|\.\w))", re.IGNORECASE)  # not "euro@x.nl"

# Where readings overlap, the more specific one wins: an address may hold digits, mod-97 is stronger
# evidence than the eleven-test, and the eleven-test stronger than a phone number's shape.
# A mistyped IBAN is not masked (mod-97 is the evidence), but its digits are not a phone number or BSN.
MISTYPED_IBAN = "mistyped iban"
RANK = {"email": 0, "iban": 1, MISTYPED_IBAN: 1, "bsn": 2, "phone": 3}


def is_valid_bsn(digits: str) -> bool:
    """The eleven-test (elfproef) on 9 digits, or 8 with the leading zero left off; never all zeros."""
    if not BSN_FORMAT.fullmatch(digits):
        return False
    padded = digits.zfill(9)
    if padded == "000000000":
        return False
    return sum(weight * int(digit) for weight, digit in zip(BSN_WEIGHTS, padded)) % 11 == 0


def is_valid_iban(candidate: str) -> bool:
    """ISO 13616: the length for the country (15..34 when unknown) and mod-97; spaces and case are ignored."""
    if not candidate.isascii():  # "ß".upper() would change the length
        return False
    compact = candidate.replace(" ", "").upper()
    if not IBAN_FORMAT.fullmatch(compact):
        return False
    expected = IBAN_LENGTHS.get(compact[:2])
    if (len(compact) != expected) if expected else not 15 <= len(compact) <= 34:
        return False
    if compact.startswith("NL") and not NL_IBAN_FORMAT.fullmatch(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def find_personal_data(text: str) -> list[Finding]:
    """Every BSN, IBAN, phone number and e-mail address in `text`: non-overlapping, sorted by start."""
    emails = list(_find_emails(text)) if "@" in text else []  # the slowest pattern; most messages have no "@"
    phones = list(_find_phones(text))  # in order of start
    # A BSN reading of part of a longer phone number ("+49 30 123456782") is a fragment of that number.
    # A phone number never has exactly a BSN's characters, so "inside" is always "strictly inside".
    phone_starts = [phone.start for phone in phones]
    furthest_phone_end = list(accumulate((phone.end for phone in phones), max))
    bsns = []
    for bsn in _find_bsns(text):
        before = bisect_right(phone_starts, bsn.start)
        if not (before and furthest_phone_end[before - 1] >= bsn.end):
            bsns.append(bsn)
    # Bisecting the accepted spans keeps a long message (or an attacker's) from taking quadratic time.
    accepted: list[Finding] = []  # non-overlapping, in order of start
    accepted_starts: list[int] = []
    for finding in sorted([*emails, *_find_ibans(text), *bsns, *phones], key=_priority):
        after = bisect_left(accepted_starts, finding.end)
        if after and accepted[after - 1].end > finding.start:
            continue
        accepted.insert(after, finding)
        accepted_starts.insert(after, finding.start)
    return [finding for finding in accepted if finding.kind in PLACEHOLDERS]


def mask(text: str) -> Masked:
    """`text` with each finding replaced by its placeholder; masking masked text changes nothing."""
    findings = tuple(find_personal_data(text))
    parts = []
    position = 0
    for finding in findings:
        parts += [text[position : finding.start], PLACEHOLDERS[finding.kind]]
        position = finding.end
    parts.append(text[position:])
    return Masked(text="".join(parts), findings=findings)


def _priority(finding: Finding) -> tuple[int, int, int]:
    return RANK[finding.kind], finding.start, finding.start - finding.end


# A placeholder stands where a number was: "]" and "[" count as digits, so masking cannot free a
# neighbour that the original digits held back (that keeps mask() idempotent).
def _digitlike_before(text: str, index: int) -> bool:
    return index > 0 and (text[index - 1] in DIGITS or text[index - 1] == "]")


def _digitlike_at(text: str, index: int) -> bool:
    return index < len(text) and (text[index] in DIGITS or text[index] == "[")


def _glued_before(text: str, start: int) -> bool:
    """Whether the characters before `start` continue a word or another number."""
    if start == 0:
        return False
    previous = text[start - 1]
    if previous.isalnum() or previous in "_]@+":
        return True
    return previous in JOINERS and _digitlike_before(text, start - 1)


def _glued_after(text: str, end: int) -> bool:
    """Whether the characters from `end` continue a word or another number."""
    if end >= len(text):
        return False
    following = text[end]
    if following.isalnum() or following in "_[@":
        return True
    return following in JOINERS and _digitlike_at(text, end + 1)


def _find_emails(text: str) -> Iterator[Finding]:
    for match in EMAIL.finditer(text):
        yield Finding("email", match.start(), match.end(), match.group())


def _find_ibans(text: str) -> Iterator[Finding]:
    for match in IBAN_START.finditer(text):
        start = match.start()
        if _glued_before(text, start):
            continue
        positions: list[int] = []  # where each character of the compact form sits in `text`
        spaced_before: list[int] = []  # compact indexes preceded by a space
        index = start
        while index < len(text) and len(positions) < 34:
            if text[index] in ASCII_ALNUM:
                positions.append(index)
            elif text[index] == " " and index + 1 < len(text) and text[index + 1] in ASCII_ALNUM:
                spaced_before.append(len(positions))
            else:
                break
            index += 1
        expected = IBAN_LENGTHS.get(text[start : start + 2].upper())
        lengths = [expected] if expected else range(len(positions), 14, -1)
        for length in lengths:
            if length > len(positions):
                continue
            # Spaces only ever fall between groups of four; elsewhere they separate words, and checking
            # every length up to 34 across words would let one in 97 word runs pass mod-97.
            if any(at % 4 for at in spaced_before if at < length):
                continue
            end = positions[length - 1] + 1
            if _glued_after(text, end):
                continue
            if is_valid_iban(text[start:end]):
                yield Finding("iban", start, end, text[start:end])
                break
            if expected:  # the country's exact length: a typo, not a coincidence
                yield Finding(MISTYPED_IBAN, start, end, text[start:end])


def _find_bsns(text: str) -> Iterator[Finding]:
    for match in BSN_CANDIDATE.finditer(text):
        value = match.group(1)
        start, end = match.start(), match.start() + len(value)
        if _is_bsn(text, start, end, value):
            yield Finding("bsn", start, end, value)


def _is_bsn(text: str, start: int, end: int, value: str) -> bool:
    digits = "".join(char for char in value if char in DIGITS)
    if not is_valid_bsn(digits):
        return False
    labelled = BSN_KEYWORD_BEFORE.search(text, max(0, start - 50), start) is not None
    # Eight digits standing alone are far more often a KvK, order or case number than an old BSN
    # written without its leading zero, so they need the keyword.
    if len(digits) == 8 and not labelled:
        return False
    if _glued_before(text, start) and not labelled:  # "BSN123456782" is still a BSN
        return False
    if _glued_after(text, end):
        return False
    # "06 123 456 782" or "123 456 782 12": grouped by spaces, the groups could belong to the neighbour.
    spaced = any(char in SPACES for char in value)
    if spaced and (
        (start > 0 and text[start - 1] in SPACES and _digitlike_before(text, start - 1))
        or (end < len(text) and text[end] in SPACES and _digitlike_at(text, end + 1))
    ):
        return False
    if AMOUNT_BEFORE.search(text, max(0, start - 8), start) or AMOUNT_AFTER.match(text, end):
        return False
    return labelled or not OTHER_NUMBER_LABEL_BEFORE.search(text, max(0, start - 50), start)


def _find_phones(text: str) -> Iterator[Finding]:
    for match in PHONE_START.finditer(text):
        start = match.start()
        if _glued_before(text, start):
            continue
        end = _phone_end(text, start)
        # The label is only looked for once the digits parse as a number: most starts are a date's "0".
        if end is not None and not OTHER_NUMBER_LABEL_BEFORE.search(text, max(0, start - 50), start):
            yield Finding("phone", start, end, text[start:end])


def _phone_end(text: str, start: int) -> int | None:
    """Where the phone number starting at `start` ends, or None when there is none to mask."""
    international = text[start] == "+" or text.startswith("00", start)
    index = start + (1 if text[start] == "+" else 2 if international else 0)
    digits = ""
    ends: list[tuple[str, int]] = []  # the digits so far at the end of each group
    while len(digits) <= 15 and len(ends) < 20:  # no number is longer; stops a walk down "0 1 0 1 ..."
        group = PHONE_GROUP.match(text, index)
        if group is None:
            break
        if group.group(1) != "0":  # "(0)", the trunk prefix, is not dialled from abroad: not counted
            digits += group.group(1) or group.group(2)
        index = group.end()
        ends.append((digits, index))
        # Without a separator only a parenthesis can follow ("+31(0)6"), or follow a parenthesis ("(010)1234567").
        separator = PHONE_SEPARATOR.match(text, index)
        after = separator.end() if separator else index
        if PHONE_GROUP.match(text, after) is None:
            break
        index = after

    # Dutch numbers have ten digits; the public 0800/090x service numbers have eight or eleven, and the
    # municipal 14 + area code and 112 do not start with 0, so none of those is read as someone's number.
    if not international:
        if DATE_PREFIX.match(text, start):
            return None
        for number, end in ends:
            if len(number) == 10:
                return None if _glued_after(text, end) else end
        return None
    if digits.startswith("31"):
        for number, end in ends:
            significant = number[2:].removeprefix("0")  # "+31 06 ..." is a common slip for "+31 6 ..."
            if len(significant) == 9:
                return None if _glued_after(text, end) else end
        return None
    # Elsewhere we only know E.164's bounds; the longest reading that ends cleanly is the number.
    for number, end in reversed(ends):
        if 9 <= len(number) <= 15 and not _glued_after(text, end):
            return end
    return None
