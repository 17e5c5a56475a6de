"""Training, evaluating and activating classifier models for the service (the registry lives on disk)."""

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, col, select

import classifier
from models import LabelledExample
from service.settings import Settings

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN_DATA = REPO_ROOT / "fixtures" / "classifier" / "train.jsonl"
EVAL_DATA = REPO_ROOT / "fixtures" / "classifier" / "eval.jsonl"


@dataclass(frozen=True)
class TrainOutcome:
    version: str
    activated: bool
    summary: str


def model_home(settings: Settings) -> Path:
    return settings.model_path or classifier.default_model_home()


def registry(settings: Settings) -> classifier.ModelRegistry:
    return classifier.ModelRegistry(model_home(settings))


def active_version(settings: Settings) -> str | None:
    """The registry's active version, or None when the model path is a single artifact folder."""
    home = model_home(settings)
    return None if (home / "model.json").is_file() else classifier.ModelRegistry(home).active_version()


def has_current_model(settings: Settings) -> bool:
    """A model is active and saved in the current artifact format. An older format still loads, but format 2
    loads with about 90 MiB less at its peak: `webcare train --if-missing` replaces it."""
    try:
        model = classifier.load_model(settings.model_path)
    except classifier.ModelError:
        return False
    return model.metadata.get("format") == classifier.FORMAT


def feedback_examples(engine: Engine) -> list[classifier.Example]:
    """Every category correction and triage decision made by people, the latest per text winning."""
    with Session(engine) as session:
        rows = session.exec(select(LabelledExample).order_by(col(LabelledExample.id))).all()
    latest = {row.text: row.label for row in rows if row.text.strip()}
    return [classifier.Example(text=text, label=str(label)) for text, label in latest.items()]


def is_not_worse(candidate: dict, current: dict | None) -> bool:
    """Activation rule: the new model's macro-F1 on the evaluation set may not be below the active one's."""
    current_f1 = (current or {}).get("evaluation", {}).get("macro_f1")
    return current_f1 is None or candidate["evaluation"]["macro_f1"] >= current_f1


def activate(settings: Settings, version: str, *, force: bool = False) -> str:
    models = registry(settings)
    versions = {v["version"]: v for v in models.versions()}
    if version not in versions:
        raise classifier.ModelError(f"no model version {version} in {models.root}")
    current = versions.get(models.active_version() or "")
    if not force and "evaluation" in versions[version] and not is_not_worse(versions[version], current):
        raise classifier.ModelError(
            f"{version} scores macro-F1 {versions[version]['evaluation']['macro_f1']:.3f}, below the active "
            f"model's {current['evaluation']['macro_f1']:.3f}; use --force to activate it anyway"
        )
    models.activate(version)
    return version


def train_model(
    settings: Settings,
    *,
    data: Path,
    eval_data: Path,
    out: Path | None = None,
    extra_examples: list[classifier.Example] = (),
) -> TrainOutcome:
    """Train, evaluate on the held-out set, save; in the registry, activate only if not worse than the active model."""
    examples = classifier.load_examples(data) + list(extra_examples)
    model = classifier.train(examples)
    model.metadata["feedback_examples"] = len(extra_examples)
    report = classifier.evaluate(model, classifier.load_examples(eval_data), threshold=settings.triage_threshold)
    model.metadata["evaluation"] = report
    lines = [classifier.format_report(report)]
    if out is not None:
        classifier.save(model, out)
        lines.append(f"model {model.version} written to {out}")
        return TrainOutcome(model.version, False, "\n".join(lines))

    models = registry(settings)
    models.add(model)
    active = models.active_version()
    previous = next((v for v in models.versions() if v["version"] == active), None)
    previous_f1 = (previous or {}).get("evaluation", {}).get("macro_f1")
    if is_not_worse(model.metadata, previous):
        models.activate(model.version)
        lines.append(f"model {model.version} is now active (macro-F1 {report['macro_f1']:.3f})")
        return TrainOutcome(model.version, True, "\n".join(lines))
    lines.append(
        f"model {model.version} NOT activated: macro-F1 {report['macro_f1']:.3f} is below the active "
        f"model {active}'s {previous_f1:.3f}"
    )
    return TrainOutcome(model.version, False, "\n".join(lines))
