"""Curated Dutch/English phrases that name a danger to people in public space right now."""

import re


def _any(*words: str) -> str:
    return "(?:" + "|".join(words) + ")"


_GAP = r"(?:\S+ ){0,4}"  # a few words in between
_SPAN = r"(?:\S+ ){0,10}"  # within the same sentence, roughly
_TREE = _any("boom", "bomen", "tak", "takken", "lichtmast", "lantaarnpaal", "tree", "branch", "lamppost", "light pole")
_FALLING = _any(
    r"op (?:om)?vall+en",
    r"(?:kan|dreigt) (?:\S+ )?(?:elk moment )?(?:om)?te? ?vallen",
    "hangt gevaarlijk scheef",
    "half omvergereden",
    "about to fall",
    "could fall",
    "ready to drop",
    "leaning (?:dangerously|badly)",
)
_BLOCKING = _any("ligt", "liggen", "lying", "gevallen", "fallen", "omgewaaid", "blokkeert", "blocking", "blocks")
_ROADWAY = _any("weg", "straat", "rijbaan", "fietspad", "kruising", "spoor", "road", "street", "bike path", "tracks")
_CABLE = _any(r"kabels?", "bedrading", "draden", "draad", "wires", "wire", "cables", "cable")
_LIGHTS = _any(r"stoplicht\w*", r"verkeerslicht\w*", "traffic lights?")

# Matched against normalize()d text (lower case, no accents). Each phrase names a concrete
# hazard. Left out on purpose, because the training data shows citizens use them for ordinary
# faults: "levensgevaarlijk" (every pothole), "brandt" (a street lamp burning by day), "gewond"
# (injured ducks), "asbest" (dumped sheets), branches lying on grass, "#flooding" hashtags.
# Each rule is (trigger substrings, patterns): a pattern is only tried when a trigger occurs,
# which keeps the check to a few microseconds per message.
_RULES = (
    (
        ("gas",),
        (
            r"\bgas ?" + _any("lucht", "lek", "geur"),
            r"\bruik\w* " + _GAP + r"gas\b",
            r"\b" + _any(r"smell\w*", "stinks?") + " " + _GAP + r"gas\b|\bgas " + _any("leak", "smell"),
        ),
    ),
    (
        ("boom", "bomen", "tak", "lichtmast", "lantaarnpaal", "tree", "branch", "lamppost", "light pole"),
        (
            r"\b" + _TREE + " " + _SPAN + _FALLING,
            r"\b"
            + _TREE
            + " "
            + _SPAN
            + _BLOCKING
            + " "
            + _any("dwars ", "")
            + _any("over", "op", "midden op", "on", "across")
            + r" (?:de |het |'t |the )?(?:hele )?"
            + _ROADWAY
            + r"\b",
            r"\b" + _TREE + " " + _SPAN + _any("blokkeert", "blocking", "blocks", "dwars over", "across the") + r"\b",
            r"\b"
            + _any("ligt", "liggen", "lying")
            + " "
            + _GAP
            + _TREE
            + " "
            + _any("dwars ", "")
            + _any("over", "op", "across", "on")
            + r" (?:de |het |'t |the )?"
            + _ROADWAY
            + r"\b",
            r"\b(?:tak|takken|branch) "
            + _SPAN
            + _any("hangt los", r"hangt (?:nog )?half", "bungelt", "hanging loose", "hanging half", "ready to drop"),
            r"\bmet wortel en al\b",
        ),
    ),
    (
        ("put", "manhole", "deksel"),
        (
            r"\bopen (?:riool)?put\b|\b" + _any("open", "uncovered", "missing") + " manhole",
            r"\b(?:put)?deksels? " + _GAP + _any("weg", "ontbreekt", "eraf", "kwijt", "gestolen"),
            r"\bmanhole covers? " + _GAP + _any("missing", "gone", "stolen", "off"),
        ),
    ),
    (
        ("kabel", "bedrading", "draad", "draden", "wire", "cable", "power line", "sparking", "lamp"),
        (
            _CABLE
            + " "
            + _GAP
            + _any(
                "hangt", "hangen", "bloot", "steken eruit", "hangen eruit", "exposed", "sticking out", "hanging", "vonk"
            ),
            r"\b" + _any("hangt", "hangen", "bungelt", "bungelen") + " " + _GAP + _CABLE + r"\b",
            r"\b"
            + _any("loshangende", "losse", "blootliggende", "bare", "exposed", "live", "dangling")
            + r" \w*?"
            + _CABLE,
            r"\bpower lines? " + _any("down", "hanging") + r"|\bsparking\b",
            r"\blamp(?:enkap)? " + _GAP + _any("hangt los", "bungelt", "uit de lantaarnpaal"),
            r"\bbungelt (?:een|de) lampenkap",
        ),
    ),
    (
        ("licht", "traffic light"),
        (
            r"\b"
            + _LIGHTS
            + " "
            + _SPAN
            + _any(
                "uitgevallen",
                "uit!",
                "allemaal uit",
                "zijn uit",
                "doen het niet",
                "doet het niet",
                "knipperend oranje",
                "valt steeds uit",
                "are out",
                "completely out",
                "not working",
            )
            + r"\b",
        ),
    ),
    (
        ("water", "overstroming", "blank", "leiding", "main"),
        (
            r"\boverstroming",
            _any("tunnel", "onderdoorgang", "viaduct", "underpass")
            + " "
            + _SPAN
            + _any("vol water", "onder water", "flooded"),
            r"\bwater " + _GAP + _any("de huizen in", "het huis in", "in huis", "into the houses"),
            r"\bstaat blank\b|\b"
            + _any(
                "water spuit",
                "spuit water",
                "gesprongen leiding",
                "burst (?:water )?main",
                r"water (?:is )?(?:spraying|gushing)",
            ),
        ),
    ),
    (
        ("brand", "fikkie", "rook", "fire", "smoke"),
        (
            r"\b"
            + _any(
                "staat in brand", "brand in", "fikkie", "zwarte rook", "rook uit", "on fire", "smoke (?:coming )?from"
            ),
        ),
    ),
    (
        (
            "zink",
            "zakt",
            "opened up",
            "ingestort",
            "collapsed",
            "olie",
            "oil",
            "naald",
            "needle",
            "hek",
            "verkeersbord",
        ),
        (
            r"\b"
            + _any(
                "zinkgat", "sinkhole", "weg zakt", r"zakt \S+ in", "opened up in the road", "ingestort", "collapsed"
            ),
            r"\b" + _any("olie ?spoor", "plas olie", "oil slick", "oil spill") + r"\b",
            r"\b" + _any("verkeersbord", "bouwhek", "hek") + " " + _GAP + _any("rijbaan", "road"),
            r"\binjectienaald\w*|\bneedles\b",
        ),
    ),
    (
        # The writer says people are in danger now (normalize() turns "112" into a token).
        ("emergencynumber", "ongeluk", "hurt"),
        (
            r"\bemergencynumber "
            + _GAP
            + r"gebeld|\bcalled emergencynumber|\bgaat zo een ongeluk|\bsomeone is going to get hurt",
        ),
    ),
)

URGENT_PATTERNS = tuple(pattern for _, patterns in _RULES for pattern in patterns)
_COMPILED = tuple((triggers, re.compile("|".join(f"(?:{p})" for p in patterns))) for triggers, patterns in _RULES)


def urgent_phrase(normalized_text: str) -> str | None:
    """The first danger phrase in a normalised message, or None."""
    for triggers, pattern in _COMPILED:
        if any(trigger in normalized_text for trigger in triggers):
            match = pattern.search(normalized_text)
            if match:
                return match.group(0)
    return None
