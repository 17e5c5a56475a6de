"""Training and prediction of the label, subcategory and urgency models."""

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classifier import LABELS, SUBCATEGORIES, Example, Prediction, train
from classifier.text import normalize
from classifier.urgency import urgent_phrase

PACKAGE = Path(__file__).resolve().parents[2] / "classifier"
NEW_TEXTS = [
    "Hoe vraag ik een parkeervergunning aan?",
    "De lantaarnpaal in de Molenstraat 8 is kapot https://t.co/xyz",
    "Complimenten voor de wethouder 👍",
    "Ik ruik gas bij de Havenkade",
    "hallo",
    "",
    "🙂🙂🙂",
]


def test_fast_predict_matches_the_sklearn_pipeline(model, examples):
    texts = [example.text for example in examples[:60]] + NEW_TEXTS
    classes = list(model.pipeline.classes_)
    expected = model.pipeline.predict_proba(texts)[:, [classes.index(label) for label in LABELS]]
    np.testing.assert_allclose(model.predict_proba(texts), expected, rtol=0, atol=1e-12)
    predictions = model.predict(texts)
    assert [p.label for p in predictions] == [LABELS[i] for i in expected.argmax(axis=1)]
    np.testing.assert_allclose([p.confidence for p in predictions], expected.max(axis=1), rtol=0, atol=1e-12)


def test_subcategory_and_urgency_match_the_sklearn_side_models(model, examples):
    texts = [example.text for example in examples] + NEW_TEXTS
    predictions = model.predict(texts)
    features = model.pipeline.named_steps["features"].transform(texts)
    subcategories = model.estimators["subcategory"].predict(features)
    learned_urgent = model.estimators["urgency"].predict(features)
    assert any(learned_urgent) and not all(learned_urgent)
    for text, prediction, subcategory, learned in zip(texts, predictions, subcategories, learned_urgent):
        if prediction.label == "public_space_report":
            assert prediction.subcategory == subcategory
            assert prediction.urgent == (bool(learned) or urgent_phrase(normalize(text)) is not None)
        else:
            assert prediction.subcategory is None
            assert prediction.urgent is False


def test_every_prediction_is_a_known_label_with_a_valid_shape(model):
    predictions = model.predict(NEW_TEXTS)
    assert len(predictions) == len(NEW_TEXTS)
    for prediction in predictions:
        assert isinstance(prediction, Prediction)
        assert prediction.label in LABELS
        assert 1 / len(LABELS) <= prediction.confidence <= 1
        assert prediction.subcategory in (SUBCATEGORIES if prediction.label == "public_space_report" else (None,))
        assert isinstance(prediction.urgent, bool)
        assert len(prediction.reasons) <= 5
        assert all(isinstance(reason, str) and reason.strip() for reason in prediction.reasons)
        assert len(set(prediction.reasons)) == len(prediction.reasons)
    assert set(model.pipeline.classes_) == set(LABELS)
    assert set(model.estimators["subcategory"].classes_) <= set(SUBCATEGORIES)


def test_predictions_on_clear_messages(model):
    service, report, communication, gas = model.predict(NEW_TEXTS[:4])
    assert service.label == "service_question" and not service.urgent
    assert report.label == "public_space_report"
    assert report.subcategory == "street_lighting"
    assert not report.urgent
    assert communication.label == "communication"
    assert gas.label == "public_space_report" and gas.urgent


def test_reasons_are_readable_words_that_pushed_towards_the_label(model):
    (report,) = model.predict(["De lantaarnpaal in de Molenstraat 8 is kapot https://t.co/xyz"])
    assert "kapot" in report.reasons or "lantaarnpaal" in report.reasons
    assert not any("token" in reason for reason in report.reasons)
    (blank,) = model.predict([""])
    assert blank.reasons == ()


def test_predict_handles_empty_input_and_refuses_a_bare_string(model):
    assert model.predict([]) == []
    with pytest.raises(TypeError):
        model.predict("a single string")


def test_training_is_deterministic(examples):
    first = train(examples, seed=3, cv_folds=0)
    second = train(examples, seed=3, cv_folds=0)
    np.testing.assert_array_equal(first.predict_proba(NEW_TEXTS), second.predict_proba(NEW_TEXTS))
    assert first.version != second.version


def test_cross_validation_is_recorded_and_calibrates(make_examples):
    model = train(make_examples(20, seed=1), seed=0, cv_folds=3)
    cv = model.metadata["cross_validation"]
    assert cv["folds"] == 3
    assert 0 <= cv["macro_f1"] <= 1 and 0 <= cv["ece"] <= 1
    assert cv["temperature"] > 0
    assert model.metadata["temperature"] == max(1.0, cv["temperature"])  # only ever softened
    assert 0 <= cv["subcategory_accuracy"] <= 1 and 0 <= cv["urgent_recall"] <= 1
    assert model.metadata["training_data"]["size"] == 60
    assert len(model.metadata["training_data"]["sha256"]) == 64
    assert model.metadata["labels"] == list(LABELS)


def test_training_needs_every_label():
    examples = [Example("paspoort aanvragen", "service_question"), Example("kapotte lamp", "public_space_report")] * 5
    with pytest.raises(ValueError, match="communication"):
        train(examples, cv_folds=0)


def test_classifier_imports_only_stdlib_and_its_allowed_libraries():
    allowed = {"numpy", "scipy", "sklearn", "skops", "classifier"} | set(sys.stdlib_module_names)
    for source in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{source.name} imports {roots - allowed}"


def test_importing_classifier_loads_no_model_and_nothing_of_ours():
    code = "import sys, classifier; print(sorted({m.split('.')[0] for m in sys.modules} & {'service', 'models'}))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PACKAGE.parent
    )
    assert result.stdout.strip() == "[]"
