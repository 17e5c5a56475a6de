"""Routing rules: order, conditions, office hours, urgency, and the fallback to triage."""

from datetime import UTC, datetime

from models import Category, Channel, OfficeHours, Priority
from service.calendar import BusinessCalendar
from service.routing import Case, Rule, route

KCC, COMMS, TRIAGE = 1, 2, 3
WEEKDAYS_9_TO_5 = {day: [("09:00", "17:00")] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")}
CALENDARS = {
    KCC: BusinessCalendar.from_config(timezone="Europe/Amsterdam", opening_hours=WEEKDAYS_9_TO_5),
    COMMS: BusinessCalendar.from_config(timezone="Europe/Amsterdam", opening_hours=WEEKDAYS_9_TO_5),
    TRIAGE: BusinessCalendar.from_config(timezone="Europe/Amsterdam", opening_hours=WEEKDAYS_9_TO_5),
}
TUESDAY_NOON = datetime(2026, 11, 17, 11, 0, tzinfo=UTC)
SATURDAY_NIGHT = datetime(2026, 11, 21, 22, 0, tzinfo=UTC)


def case(category=Category.communication, confidence=0.9, text="hallo", sent_at=TUESDAY_NOON, **extra) -> Case:
    return Case(
        category=category,
        confidence=confidence,
        channel=extra.get("channel", Channel.x),
        text=text,
        urgent=extra.get("urgent", False),
        sent_at=sent_at,
    )


RULES = [
    Rule(
        1,
        "crisis",
        KCC,
        category=Category.communication,
        text_pattern=r"\bbrand\b",
        office_hours=OfficeHours.outside,
        hours_department_id=COMMS,
        priority=Priority.urgent,
    ),
    Rule(2, "unsure", TRIAGE, max_confidence=0.6),
    Rule(3, "reports", KCC, category=Category.public_space_report),
    Rule(4, "whatsapp questions", KCC, category=Category.service_question, channel=Channel.whatsapp),
    Rule(5, "communication", COMMS, category=Category.communication),
]


def decide(c: Case):
    return route(c, RULES, CALENDARS, fallback_department_id=TRIAGE)


def test_first_matching_rule_wins():
    decision = decide(case(Category.public_space_report))
    assert (decision.department_id, decision.rule.name, decision.priority) == (KCC, "reports", Priority.normal)


def test_confidence_below_the_threshold_goes_to_triage_before_category_rules():
    assert decide(case(Category.public_space_report, confidence=0.59)).rule.name == "unsure"
    assert decide(case(Category.public_space_report, confidence=0.6)).rule.name == "reports"


def test_office_hours_condition_looks_at_the_named_department():
    at_night = decide(case(text="Er is brand in de Dorpsstraat", sent_at=SATURDAY_NIGHT))
    assert (at_night.department_id, at_night.priority, at_night.office_hours_open) == (KCC, Priority.urgent, False)
    by_day = decide(case(text="Er is brand in de Dorpsstraat", sent_at=TUESDAY_NOON))
    assert (by_day.department_id, by_day.rule.name) == (COMMS, "communication")


def test_text_pattern_is_case_insensitive_and_searched_anywhere():
    assert decide(case(text="BRAND!! bij de haven", sent_at=SATURDAY_NIGHT)).rule.name == "crisis"
    assert decide(case(text="brandweer oefening", sent_at=SATURDAY_NIGHT)).rule.name == "communication"


def test_channel_condition():
    assert decide(case(Category.service_question, channel=Channel.whatsapp)).rule.name == "whatsapp questions"


def test_no_matching_rule_falls_back_to_triage():
    decision = decide(case(Category.service_question, channel=Channel.facebook))
    assert (decision.department_id, decision.rule) == (TRIAGE, None)


def test_the_classifiers_urgency_raises_priority_but_never_lowers_it():
    assert decide(case(Category.public_space_report, urgent=True)).priority == Priority.urgent
    crisis = decide(case(text="brand", sent_at=SATURDAY_NIGHT, urgent=False))
    assert crisis.priority == Priority.urgent
