"""Text normalisation for Dutch and English social-media messages, run inside the fitted pipeline."""

import re
import unicodedata

# Placeholder tokens: plain lowercase words, so that both the word and the character
# vectorizers treat them as one unit, and readable when shown as a reason.
URL_TOKEN = "urltoken"
MENTION_TOKEN = "mentiontoken"
EMAIL_TOKEN = "emailtoken"
POSTCODE_TOKEN = "postcodetoken"
PHONE_TOKEN = "phonetoken"
NUMBER_TOKEN = "numbertoken"
EMERGENCY_TOKEN = "emergencynumber"
EMOJI_POSITIVE_TOKEN = "emojipositive"
EMOJI_NEGATIVE_TOKEN = "emojinegative"
EMOJI_TOKEN = "emojitoken"

READABLE_TOKENS = {
    URL_TOKEN: "<link>",
    MENTION_TOKEN: "<@mention>",
    EMAIL_TOKEN: "<e-mail>",
    POSTCODE_TOKEN: "<postcode>",
    PHONE_TOKEN: "<phone>",
    NUMBER_TOKEN: "<number>",
    EMERGENCY_TOKEN: "112",
    EMOJI_POSITIVE_TOKEN: "<positive emoji>",
    EMOJI_NEGATIVE_TOKEN: "<negative emoji>",
    EMOJI_TOKEN: "<emoji>",
}

# Function words are kept as features (they carry signal, e.g. "hoe" or "waar" in questions)
# but are not shown alone as a reason, where they explain nothing to a person.
FUNCTION_WORDS = frozenset(
    """
    de het een en of in op aan bij van voor met naar uit over onder door om te tot als dan dat die dit
    deze er is zijn was waren wordt worden ben bent heb hebt heeft hebben had kan kunnen wil ik je jij u
    we wij ze zij hij het mijn ons onze jullie hun hier daar nog al ook wel niet geen maar want dus
    the a an and or of in on at to for with from by is are was were be been it this that these those
    i you we they he she my our your their there here not no but so as if then
    """.split()
)

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:nl|com|org|net|eu|be|info)/\S*", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_MENTION = re.compile(r"@\w+")
# Dutch postcodes are written "1234 AB" or "1234AB"; the letters must be upper case or
# glued to the digits, otherwise "in 2023 al" would look like a postcode.
_POSTCODE = re.compile(r"\b[1-9]\d{3}(?:\s?[A-Z]{2}|[a-z]{2})\b")
_PHONE = re.compile(r"(?:\+31|0031|\b0)[\s-]?\d(?:[\s-]?\d){7,8}\b")
_EMERGENCY = re.compile(r"\b112\b")
# Numbers with an optional house-number suffix ("12a", "12-3", "3,50", "14:30").
_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*(?:[a-z](?![a-z]))?")
_DIGIT = re.compile(r"\d")
_REPEATS = re.compile(r"(.)\1{2,}")
_SPACES = re.compile(r"\s+")
# Pictographs, dingbats, symbols and arrows, plus the selectors, joiners and skin tones that
# modify them (those carry no meaning here and are dropped).
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\u2190-\u21ff\ufe0f\u200d]")

_POSITIVE_EMOJI = set("👍👏🙏😊😀😃😄😁🙂😍🥰❤💙💚💛🧡💜🎉🌟⭐✅💪😉🤗👌🌈☺♥")
_NEGATIVE_EMOJI = set("👎😡😠🤬😤😢😭😞😟😒🙄💩😱😩😫☹😖😣🤮🤢⚠🚨😬🤦")


def _emoji_token(match: re.Match) -> str:
    char = match.group(0)
    if char in _POSITIVE_EMOJI:
        return f" {EMOJI_POSITIVE_TOKEN} "
    if char in _NEGATIVE_EMOJI:
        return f" {EMOJI_NEGATIVE_TOKEN} "
    if char in "\ufe0f\u200d" or "\U0001f3fb" <= char <= "\U0001f3ff":
        return ""
    return f" {EMOJI_TOKEN} "


_ACCENTED = re.compile("[\u00c0-\u024f\u1e00-\u1eff\uff00-\uffef\u0300-\u036f]")
_COMBINING = re.compile("[\u0300-\u036f]")


def _strip_accents(text: str) -> str:
    # Decompose and drop combining marks ("één" -> "een", "café" -> "cafe", "ĳ" -> "ij", full-width
    # forms folded). Other scripts are kept as they are.
    if not _ACCENTED.search(text):
        return text
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


def normalize(text: str) -> str:
    """Return the canonical form of one message, as both vectorizers see it."""
    # The cheap membership tests skip most substitutions for most messages (predict speed).
    if "/" in text or "ww" in text or "WW" in text:
        text = _URL.sub(f" {URL_TOKEN} ", text)
    if "@" in text:
        text = _EMAIL.sub(f" {EMAIL_TOKEN} ", text)
        text = _MENTION.sub(f" {MENTION_TOKEN} ", text)
    has_digits = _DIGIT.search(text) is not None
    if has_digits:
        text = _POSTCODE.sub(f" {POSTCODE_TOKEN} ", text)
        text = _PHONE.sub(f" {PHONE_TOKEN} ", text)
        text = _EMERGENCY.sub(f" {EMERGENCY_TOKEN} ", text)
    text = text.lower()
    if not text.isascii():
        text = _strip_accents(_EMOJI.sub(_emoji_token, text))
    if has_digits:
        text = _NUMBER.sub(f" {NUMBER_TOKEN} ", text)
    # Dutch has real double letters (boom, straat) but never three in a row in normal words.
    text = _REPEATS.sub(r"\1\1", text)
    return _SPACES.sub(" ", text).strip()


def readable(feature: str) -> str:
    """Show a (normalised) feature name with its placeholder tokens spelled out."""
    return " ".join(READABLE_TOKENS.get(word, word) for word in feature.split(" ") if word) or feature.strip()


def is_function_phrase(feature: str) -> bool:
    """True when every word of a word n-gram is a function word."""
    return all(word in FUNCTION_WORDS for word in feature.split(" ") if word)
