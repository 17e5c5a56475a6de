"""Labels, examples, predictions and the JSON-lines reader shared by the classifier modules."""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LABELS = ("service_question", "public_space_report", "communication")
SUBCATEGORIES = (
    "waste",
    "roads_traffic",
    "street_lighting",
    "green",
    "water_sewers",
    "street_furniture_play",
    "nuisance",
    "animals_vermin",
    "other",
)


class ModelError(Exception):
    """A model artifact cannot be used: missing, changed, untrusted or built for other versions."""


@dataclass(frozen=True)
class Example:
    text: str
    label: str
    subcategory: str | None = None
    urgent: bool = False
    lang: str | None = None


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    subcategory: str | None
    urgent: bool
    reasons: tuple[str, ...]


def parse_example(record: object) -> Example:
    """Build an Example from one decoded JSON record, or raise ValueError saying what is wrong."""
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object")
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError('"text" must be a non-empty string')
    label = record.get("label")
    if label not in LABELS:
        raise ValueError(f'"label" must be one of {", ".join(LABELS)}, got {label!r}')
    subcategory = record.get("subcategory")
    if subcategory is not None and subcategory not in SUBCATEGORIES:
        raise ValueError(f'"subcategory" must be one of {", ".join(SUBCATEGORIES)} or null, got {subcategory!r}')
    urgent = record.get("urgent", False)
    if urgent is None:
        urgent = False
    if not isinstance(urgent, bool):
        raise ValueError(f'"urgent" must be true or false, got {urgent!r}')
    lang = record.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise ValueError(f'"lang" must be a string, got {lang!r}')
    return Example(text=text, label=label, subcategory=subcategory, urgent=urgent, lang=lang)


def load_examples(path: str | Path) -> list[Example]:
    """Read labelled JSON lines; extra fields (e.g. "channel") are ignored, blank lines skipped."""
    examples = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                examples.append(parse_example(json.loads(line)))
            except (ValueError, json.JSONDecodeError) as error:
                raise ValueError(f"{path}, line {number}: {error}") from None
    return examples


def examples_sha256(examples: Sequence[Example]) -> str:
    """Fingerprint of training data that does not depend on file layout or key order."""
    digest = hashlib.sha256()
    for example in examples:
        record = {
            "text": example.text,
            "label": example.label,
            "subcategory": example.subcategory,
            "urgent": example.urgent,
        }
        digest.update(json.dumps(record, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
