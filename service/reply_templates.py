"""Reply templates: filling in the placeholders for one ticket, with Dutch (or English) dates."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

DAYS = {
    "nl": ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}
MONTHS = {
    "nl": (
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}
PLACEHOLDER = re.compile(r"\{(naam|belofte|ticket)\}")


def format_moment(moment: datetime, *, timezone: str, language: str = "nl") -> str:
    """'maandag 23 november, 12.30 uur' — how Dutch municipalities write a time to citizens."""
    local = moment.astimezone(ZoneInfo(timezone))
    day, month = DAYS[language][local.weekday()], MONTHS[language][local.month - 1]
    if language == "nl":
        return f"{day} {local.day} {month}, {local:%H.%M} uur"
    return f"{day} {local.day} {month}, {local:%H:%M}"


def promise(due: datetime | None, *, timezone: str, language: str = "nl") -> str:
    if due is None:
        return "zo snel mogelijk" if language == "nl" else "as soon as possible"
    return ("vóór " if language == "nl" else "before ") + format_moment(due, timezone=timezone, language=language)


def render(body: str, *, name: str, due: datetime | None, ticket_id: int, timezone: str, language: str = "nl") -> str:
    """Fill in {naam}, {belofte} and {ticket}; other braces are left as written."""
    values = {"naam": name, "belofte": promise(due, timezone=timezone, language=language), "ticket": str(ticket_id)}
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], body)
