"""Training, evaluating and activating classifier models for the service (the registry lives on disk)."""

import logging
from dataclasses import dataclass
from pathlib import Path

import classifier
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


def has_active_model(settings: Settings) -> bool:
    try:
        classifier.load_model(settings.model_path)
    except classifier.ModelError:
        return False
    return True


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
    if previous is None or previous_f1 is None or report["macro_f1"] >= previous_f1:
        models.activate(model.version)
        lines.append(f"model {model.version} is now active (macro-F1 {report['macro_f1']:.3f})")
        return TrainOutcome(model.version, True, "\n".join(lines))
    lines.append(
        f"model {model.version} NOT activated: macro-F1 {report['macro_f1']:.3f} is below the active "
        f"model {active}'s {previous_f1:.3f}"
    )
    return TrainOutcome(model.version, False, "\n".join(lines))
