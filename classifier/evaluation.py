"""Evaluation of any object with predict(texts) on labelled examples, and its text report."""

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from classifier.schema import LABELS, Example

CALIBRATION_BINS = 10


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return _ratio(2 * precision * recall, precision + recall)


def label_metrics(truth: Sequence[str], predicted: Sequence[str]) -> dict:
    """Per-class precision/recall/f1/support, macro F1, accuracy and confusion matrix (rows = truth).

    Macro F1 averages over the labels that occur in the truth or the predictions (as scikit-learn
    does), so a subset without a class is not punished for it.
    """
    index = {label: i for i, label in enumerate(LABELS)}
    matrix = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    for true_label, predicted_label in zip(truth, predicted, strict=True):
        matrix[index[true_label], index[predicted_label]] += 1
    per_class = {}
    present = []
    for i, label in enumerate(LABELS):
        true_positives = matrix[i, i]
        precision = _ratio(true_positives, matrix[:, i].sum())
        recall = _ratio(true_positives, matrix[i, :].sum())
        per_class[label] = {
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
            "support": int(matrix[i, :].sum()),
        }
        if matrix[i, :].sum() or matrix[:, i].sum():
            present.append(per_class[label]["f1"])
    return {
        "per_class": per_class,
        "macro_f1": float(np.mean(present)) if present else 0.0,
        "accuracy": _ratio(np.trace(matrix), matrix.sum()),
        "confusion_matrix": matrix.tolist(),
    }


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = CALIBRATION_BINS
) -> dict:
    """ECE of the top-class confidence over equal-width bins [k/bins, (k+1)/bins), 1.0 in the last."""
    confidences = np.asarray(confidences, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    which = np.clip(np.floor(confidences * bins).astype(int), 0, bins - 1)
    table = []
    ece = 0.0
    for k in range(bins):
        members = which == k
        count = int(members.sum())
        mean_confidence = float(confidences[members].mean()) if count else 0.0
        accuracy = float(correct[members].mean()) if count else 0.0
        if count:
            ece += count / len(confidences) * abs(accuracy - mean_confidence)
        table.append(
            {
                "lower": k / bins,
                "upper": (k + 1) / bins,
                "count": count,
                "confidence": mean_confidence,
                "accuracy": accuracy,
            }
        )
    return {"ece": float(ece), "bins": table}


def evaluate(model, examples: Iterable[Example], *, threshold: float) -> dict:
    """Score model.predict() against labelled examples; the result is JSON-able."""
    examples = list(examples)
    predictions = model.predict([example.text for example in examples]) if examples else []
    truth = [example.label for example in examples]
    predicted = [prediction.label for prediction in predictions]
    confidences = [prediction.confidence for prediction in predictions]
    report = {"n": len(examples), "labels": list(LABELS), "threshold": threshold}
    report.update(label_metrics(truth, predicted))
    report["triage_share"] = _ratio(sum(confidence < threshold for confidence in confidences), len(examples))
    report["calibration"] = expected_calibration_error(confidences, [t == p for t, p in zip(truth, predicted)])

    with_subcategory = [
        (example, prediction)
        for example, prediction in zip(examples, predictions)
        if example.label == "public_space_report" and example.subcategory
    ]
    label_right = [(e, p) for e, p in with_subcategory if p.label == e.label]
    report["subcategory"] = {
        "n": len(with_subcategory),
        # End to end: a report predicted as another label has no subcategory and counts as wrong.
        "accuracy": _ratio(sum(e.subcategory == p.subcategory for e, p in with_subcategory), len(with_subcategory)),
        "n_label_correct": len(label_right),
        "accuracy_when_label_correct": _ratio(
            sum(e.subcategory == p.subcategory for e, p in label_right), len(label_right)
        ),
    }

    true_urgent = [example.urgent for example in examples]
    predicted_urgent = [prediction.urgent for prediction in predictions]
    hits = sum(t and p for t, p in zip(true_urgent, predicted_urgent))
    precision = _ratio(hits, sum(predicted_urgent))
    recall = _ratio(hits, sum(true_urgent))
    report["urgent"] = {
        "support": sum(true_urgent),
        "predicted": sum(predicted_urgent),
        "precision": precision,
        "recall": recall,
        "f1": _f1(precision, recall),
    }

    by_language = defaultdict(list)
    for i, example in enumerate(examples):
        if example.lang:
            by_language[example.lang].append(i)
    if by_language:
        report["per_language"] = {}
        for lang in sorted(by_language):
            rows = by_language[lang]
            metrics = label_metrics([truth[i] for i in rows], [predicted[i] for i in rows])
            report["per_language"][lang] = {
                "n": len(rows),
                "macro_f1": metrics["macro_f1"],
                "accuracy": metrics["accuracy"],
            }
    return report


def format_report(report: dict) -> str:
    """Human-readable text tables of an evaluate() report."""
    lines = [
        f"examples: {report['n']}   accuracy: {report['accuracy']:.3f}   macro F1: {report['macro_f1']:.3f}",
        "",
        f"{'label':<22}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for label in report["labels"]:
        row = report["per_class"][label]
        lines.append(
            f"{label:<22}{row['precision']:>10.3f}{row['recall']:>10.3f}{row['f1']:>10.3f}{row['support']:>10}"
        )
    lines += ["", "confusion matrix (rows = true, columns = predicted)"]
    short = [label[:12] for label in report["labels"]]
    lines.append(f"{'':<22}" + "".join(f"{name:>14}" for name in short))
    for label, row in zip(report["labels"], report["confusion_matrix"]):
        lines.append(f"{label:<22}" + "".join(f"{count:>14}" for count in row))
    calibration = report["calibration"]
    lines += [
        "",
        f"triage share (confidence < {report['threshold']:.2f}): {report['triage_share']:.1%}",
        f"expected calibration error (top class, {len(calibration['bins'])} bins): {calibration['ece']:.3f}",
    ]
    subcategory = report["subcategory"]
    if subcategory["n"]:
        lines.append(
            f"subcategory accuracy on {subcategory['n']} public-space reports: {subcategory['accuracy']:.3f}"
            f" ({subcategory['accuracy_when_label_correct']:.3f} where the label was right)"
        )
    urgent = report["urgent"]
    lines.append(
        f"urgent: precision {urgent['precision']:.3f}, recall {urgent['recall']:.3f}"
        f" ({urgent['support']} true, {urgent['predicted']} flagged)"
    )
    if report.get("per_language"):
        lines += ["", f"{'language':<22}{'n':>10}{'macro F1':>10}{'accuracy':>10}"]
        for lang, row in report["per_language"].items():
            lines.append(f"{lang:<22}{row['n']:>10}{row['macro_f1']:>10.3f}{row['accuracy']:>10.3f}")
    return "\n".join(lines)
