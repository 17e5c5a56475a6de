"""The default configuration: it loads, every label has a route, and it agrees with the settings."""

from datetime import UTC, datetime

import pytest
from sqlmodel import select

import classifier
from models import Category, Channel, Department
from service.configuration import apply_config, load_pipeline_config, read_config_file
from service.routing import Case, route
from service.settings import Settings

WEDNESDAY_NOON = datetime(2026, 11, 18, 11, 0, tzinfo=UTC)


def test_every_label_the_model_can_predict_has_a_route_and_a_policy(session):
    config = load_pipeline_config(session, Settings(_env_file=None))
    assert {Category(label) for label in classifier.LABELS} == set(Category)
    for label in classifier.LABELS:
        for channel in Channel:
            decision = route(
                Case(Category(label), 0.95, channel, "een bericht", False, WEDNESDAY_NOON),
                config.rules,
                config.calendars,
                fallback_department_id=config.triage_department_id,
            )
            assert decision.rule is not None, (label, channel)
            assert decision.department_id != config.triage_department_id


def test_the_seeded_triage_rule_uses_the_default_threshold():
    triage_rules = [r for r in read_config_file().routing_rules if r.department == "triage"]
    assert [r.max_confidence for r in triage_rules] == [Settings(_env_file=None).triage_threshold]


def test_seeding_twice_updates_instead_of_duplicating(session):
    apply_config(session, read_config_file())
    session.commit()
    assert sorted(session.exec(select(Department.slug)).all()) == ["communicatie", "kcc", "triage"]
    assert len(load_pipeline_config(session, Settings(_env_file=None)).rules) == len(read_config_file().routing_rules)


def test_a_bad_pattern_or_unknown_department_is_refused(session):
    config = read_config_file()
    bad_pattern = config.model_copy(deep=True)
    bad_pattern.routing_rules[0].text_pattern = "(unclosed"
    with pytest.raises(ValueError, match="not a valid regular expression"):
        apply_config(session, bad_pattern)
    session.rollback()
    unknown = config.model_copy(deep=True)
    unknown.routing_rules[0].department = "brandweer"
    with pytest.raises(ValueError, match="unknown department 'brandweer'"):
        apply_config(session, unknown)
