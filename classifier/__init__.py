"""Message classifier: service question, public-space report or communication."""

from classifier.evaluation import evaluate, format_report
from classifier.model import FORMAT, Classifier, train
from classifier.persistence import ModelRegistry, default_model_home, load, load_model, save
from classifier.schema import LABELS, SUBCATEGORIES, Example, ModelError, Prediction, load_examples

__all__ = [
    "FORMAT",
    "LABELS",
    "SUBCATEGORIES",
    "Classifier",
    "Example",
    "ModelError",
    "ModelRegistry",
    "Prediction",
    "default_model_home",
    "evaluate",
    "format_report",
    "load",
    "load_examples",
    "load_model",
    "save",
    "train",
]
