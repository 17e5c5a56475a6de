"""Departments, routing rules and SLA policies: loading them from a file and reading them for the pipeline."""

import functools
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from sqlmodel import Session, func, select

from models import (
    Department,
    DepartmentPublic,
    DepartmentWrite,
    ReplyTemplate,
    ReplyTemplateCreate,
    RoutingRule,
    RoutingRuleWrite,
    SlaPolicy,
    SlaPolicyWrite,
    utcnow,
)
from service import routing, sla
from service.calendar import BusinessCalendar
from service.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
DEFAULT_CONFIG = FIXTURES / "config" / "default.json"
TRIAGE_SLUG = "triage"


class ConfigFile(BaseModel):
    departments: list[DepartmentWrite]
    routing_rules: list[RoutingRuleWrite]
    sla_policies: list[SlaPolicyWrite]
    reply_templates: list[ReplyTemplateCreate] = []


@dataclass(frozen=True)
class PipelineConfig:
    """Everything routing and targets need, read once per message batch."""

    departments: dict[int, Department]
    calendars: dict[int, BusinessCalendar]
    rules: list[routing.Rule]
    policies: list[sla.Policy]
    triage_department_id: int
    at_risk_share: float

    def slug(self, department_id: int) -> str:
        return self.departments[department_id].slug


def calendar_for(department: Department) -> BusinessCalendar:
    return BusinessCalendar.from_config(
        timezone=department.timezone,
        opening_hours=department.opening_hours,
        closure_days=department.closure_days,
    )


def read_config_file(path: Path = DEFAULT_CONFIG) -> ConfigFile:
    return ConfigFile.model_validate(json.loads(path.read_text(encoding="utf-8")))


def apply_config(session: Session, config: ConfigFile) -> dict[str, int]:
    """Create or update departments (by slug), rules and policies (by position); returns counts written."""
    by_slug = {d.slug: d for d in session.exec(select(Department)).all()}
    for item in config.departments:
        # Validates hours (overlaps, order) the same way the pipeline will read them.
        BusinessCalendar.from_config(
            timezone=item.timezone, opening_hours=item.opening_hours, closure_days=item.closure_days
        )
        department = by_slug.get(item.slug) or Department(slug=item.slug, name=item.name)
        department.name = item.name
        department.timezone = item.timezone
        department.opening_hours = {day: [list(slot) for slot in slots] for day, slots in item.opening_hours.items()}
        department.closure_days = [day.isoformat() for day in item.closure_days]
        department.updated_at = utcnow()
        session.add(department)
        by_slug[item.slug] = department
    session.flush()

    def department_id(slug: str | None) -> int | None:
        if slug is None:
            return None
        if slug not in by_slug:
            raise ValueError(f"unknown department '{slug}'")
        return by_slug[slug].id

    rules = {r.position: r for r in session.exec(select(RoutingRule)).all()}
    for item in config.routing_rules:
        if item.text_pattern:
            routing.validate_pattern(item.text_pattern)
        rule = rules.get(item.position) or RoutingRule(position=item.position, name=item.name, department_id=0)
        for key, value in item.model_dump(exclude={"department", "hours_of"}).items():
            setattr(rule, key, value)
        rule.department_id = department_id(item.department)
        rule.hours_department_id = department_id(item.hours_of)
        rule.updated_at = utcnow()
        session.add(rule)

    policies = {p.position: p for p in session.exec(select(SlaPolicy)).all()}
    for item in config.sla_policies:
        policy = policies.get(item.position) or SlaPolicy(
            position=item.position, name=item.name, first_response_minutes=1, resolution_minutes=1
        )
        for key, value in item.model_dump(exclude={"department"}).items():
            setattr(policy, key, value)
        policy.department_id = department_id(item.department)
        policy.updated_at = utcnow()
        session.add(policy)

    templates = {t.name: t for t in session.exec(select(ReplyTemplate)).all()}
    for item in config.reply_templates:
        template = templates.get(item.name) or ReplyTemplate(name=item.name, body=item.body)
        for key, value in item.model_dump().items():
            setattr(template, key, value)
        template.updated_at = utcnow()
        session.add(template)
    session.flush()
    return {
        "departments": len(config.departments),
        "routing_rules": len(config.routing_rules),
        "sla_policies": len(config.sla_policies),
        "reply_templates": len(config.reply_templates),
    }


# The pipeline's configuration changes a few times a year but is read for every message. Each process keeps the
# last one it built together with the fingerprint of the tables it was built from, and a request pays one small
# query (the fingerprint, read in its own transaction) instead of three queries and rebuilding every business
# calendar. A change committed anywhere (`webcare seed`, another API process or host) changes the fingerprint, so
# the next request in every process sees it: no expiry window, no message to other processes. The fingerprint is the
# number of rows and the latest updated_at of each table; apply_config sets updated_at on every row it writes, and
# anything that changes a row without it is picked up after CONFIG_MAX_AGE_SECONDS all the same.
CONFIG_MAX_AGE_SECONDS = 60
_built: dict[str, tuple[tuple, float, PipelineConfig]] = {}
_built_lock = threading.Lock()


@functools.cache
def _fingerprint_query():
    """Rows and latest change of each configuration table, in one statement (built once: building it costs more
    than running it)."""
    return select(
        *(
            subquery
            for table in (Department, RoutingRule, SlaPolicy)
            for subquery in (
                select(func.count()).select_from(table).scalar_subquery(),
                select(func.max(table.updated_at)).scalar_subquery(),
            )
        )
    )


def _fingerprint(session: Session, settings: Settings) -> tuple:
    return (*session.exec(_fingerprint_query()).one(), settings.sla_at_risk_share)


def load_pipeline_config(session: Session, settings: Settings) -> PipelineConfig:
    """The configuration as committed now (or as changed in this transaction), built once per change and process."""
    database = session.get_bind().url.render_as_string(hide_password=True)
    fingerprint = _fingerprint(session, settings)
    with _built_lock:
        known = _built.get(database)
    if known is not None and known[0] == fingerprint and time.monotonic() - known[1] < CONFIG_MAX_AGE_SECONDS:
        return known[2]
    config = build_pipeline_config(session, settings)
    with _built_lock:
        _built[database] = (fingerprint, time.monotonic(), config)
    return config


def build_pipeline_config(session: Session, settings: Settings) -> PipelineConfig:
    """Read the configuration tables and build the calendars (what load_pipeline_config keeps)."""
    # Copies that belong to no session: the configuration outlives this one and is read by many threads.
    departments = {d.id: Department(**d.model_dump()) for d in session.exec(select(Department)).all()}
    triage = next((d for d in departments.values() if d.slug == TRIAGE_SLUG), None)
    if triage is None:
        raise RuntimeError("No 'triage' department is configured: run `webcare seed` first.")
    rules = [
        routing.Rule(
            id=r.id,
            name=r.name,
            department_id=r.department_id,
            category=r.category,
            channel=r.channel,
            min_confidence=r.min_confidence,
            max_confidence=r.max_confidence,
            text_pattern=r.text_pattern,
            office_hours=r.office_hours,
            hours_department_id=r.hours_department_id,
            priority=r.priority,
            deliver_to=tuple(r.deliver_to or ()),
            acknowledge=r.acknowledge,
        )
        for r in session.exec(select(RoutingRule).where(RoutingRule.enabled).order_by(RoutingRule.position)).all()
    ]
    policies = [
        sla.Policy(
            id=p.id,
            name=p.name,
            first_response_minutes=p.first_response_minutes,
            resolution_minutes=p.resolution_minutes,
            clock=p.clock,
            category=p.category,
            priority=p.priority,
            department_id=p.department_id,
        )
        for p in session.exec(select(SlaPolicy).order_by(SlaPolicy.position)).all()
    ]
    return PipelineConfig(
        departments=departments,
        calendars={i: calendar_for(d) for i, d in departments.items()},
        rules=rules,
        policies=policies,
        triage_department_id=triage.id,
        at_risk_share=settings.sla_at_risk_share,
    )


def department_public(department: Department) -> DepartmentPublic:
    return DepartmentPublic(
        slug=department.slug,
        name=department.name,
        timezone=department.timezone,
        opening_hours=department.opening_hours,
        closure_days=department.closure_days,
    )
