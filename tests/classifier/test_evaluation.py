"""evaluate() figures on a hand-made case, format_report(), and the JSON-lines reader."""

import json

import pytest

from classifier import Example, Prediction, evaluate, format_report, load_examples

S, P, C = "service_question", "public_space_report", "communication"


class FixedModel:
    """Stand-in: evaluate() must only need .predict()."""

    def __init__(self, predictions):
        self.predictions = predictions

    def predict(self, texts):
        assert len(texts) == len(self.predictions)
        return self.predictions


def _prediction(label, confidence, subcategory=None, urgent=False):
    return Prediction(label, confidence, subcategory, urgent, ())


EXAMPLES = [
    Example("a", S, lang="nl"),
    Example("b", S, lang="nl"),
    Example("c", P, "waste", lang="nl"),
    Example("d", P, "green", True, lang="en"),
    Example("e", P, "roads_traffic", True, lang="en"),
    Example("f", C, lang="en"),
]
PREDICTIONS = [
    _prediction(S, 0.95),
    _prediction(P, 0.55, "waste"),
    _prediction(P, 0.85, "waste"),
    _prediction(P, 0.65, "water_sewers", urgent=True),
    _prediction(C, 0.45),
    _prediction(C, 0.95, urgent=True),
]


def test_evaluate_figures_on_a_hand_made_case():
    report = evaluate(FixedModel(PREDICTIONS), EXAMPLES, threshold=0.6)
    assert report["n"] == 6
    assert report["confusion_matrix"] == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]
    assert report["per_class"][S] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert report["per_class"][P] == {"precision": 2 / 3, "recall": 2 / 3, "f1": pytest.approx(2 / 3), "support": 3}
    assert report["per_class"][C] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 1}
    assert report["macro_f1"] == pytest.approx(2 / 3)
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["triage_share"] == pytest.approx(2 / 6)  # 0.55 and 0.45
    # Bins: 0.45 wrong; 0.55 wrong; 0.65 right; 0.85 right; 0.95 right and 0.95 right.
    calibration = report["calibration"]
    assert [b["count"] for b in calibration["bins"]] == [0, 0, 0, 0, 1, 1, 1, 0, 1, 2]
    expected_ece = (0.45 + 0.55 + (1 - 0.65) + (1 - 0.85) + 2 * (1 - 0.95)) / 6
    assert calibration["ece"] == pytest.approx(expected_ece)
    assert report["subcategory"] == {
        "n": 3,
        "accuracy": pytest.approx(1 / 3),  # waste right, green wrong, roads_traffic predicted communication
        "n_label_correct": 2,
        "accuracy_when_label_correct": 0.5,
    }
    assert report["urgent"] == {"support": 2, "predicted": 2, "precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert report["per_language"]["nl"] == {"n": 3, "macro_f1": pytest.approx(2 / 3), "accuracy": pytest.approx(2 / 3)}
    assert report["per_language"]["en"]["n"] == 3
    assert report["per_language"]["en"]["accuracy"] == pytest.approx(2 / 3)
    json.dumps(report)  # JSON-able


def test_evaluate_without_languages_or_examples():
    report = evaluate(FixedModel([]), [], threshold=0.5)
    assert report["n"] == 0 and report["macro_f1"] == 0.0 and "per_language" not in report
    report = evaluate(FixedModel([_prediction(S, 0.7)]), [Example("x", S)], threshold=0.5)
    assert report["accuracy"] == 1.0 and report["macro_f1"] == 1.0 and "per_language" not in report


def test_format_report_shows_the_figures():
    text = format_report(evaluate(FixedModel(PREDICTIONS), EXAMPLES, threshold=0.6))
    assert "macro F1: 0.667" in text
    assert "public_space_report" in text and "0.667" in text
    assert "triage share (confidence < 0.60): 33.3%" in text
    assert "subcategory accuracy on 3 public-space reports: 0.333" in text
    assert "urgent: precision 0.500, recall 0.500" in text
    assert "nl" in text and "en" in text


def test_load_examples_reads_json_lines(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"text": "gat in de weg", "label": "public_space_report", "subcategory": "roads_traffic", '
        '"urgent": false, "lang": "nl", "channel": "x"}\n\n'
        '{"text": "hoe laat open?", "label": "service_question"}\n'
    )
    assert load_examples(path) == [
        Example("gat in de weg", "public_space_report", "roads_traffic", False, "nl"),
        Example("hoe laat open?", "service_question"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 2"),
        ('{"text": "x", "label": "spam"}', r"line 2: \"label\" must be one of"),
        ('{"text": "", "label": "communication"}', r"line 2: \"text\" must be a non-empty string"),
        ('{"text": "x", "label": "communication", "subcategory": "potholes"}', 'line 2: "subcategory"'),
        ('{"text": "x", "label": "communication", "urgent": "yes"}', 'line 2: "urgent"'),
        ("[1, 2]", "line 2: expected a JSON object"),
    ],
)
def test_load_examples_names_the_bad_line(tmp_path, line, message):
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "ok", "label": "communication"}\n' + line + "\n")
    with pytest.raises(ValueError, match=message):
        load_examples(path)
