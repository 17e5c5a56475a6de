"""Quality floor: trained on fixtures/classifier/train.jsonl, scored on the held-out eval.jsonl."""

from pathlib import Path

import pytest

from classifier import LABELS, evaluate, load_examples, train

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "classifier"
# Measured 2026-11-21 (MODEL_CARD.md): macro-F1 0.911, public-space-report recall 0.906.
# The floors sit a little below, so that a real regression fails and a regenerated training
# set with the same character does not.
MACRO_F1_FLOOR = 0.88
REPORT_RECALL_FLOOR = 0.87


@pytest.mark.skipif(
    not (DATA / "train.jsonl").exists() or not (DATA / "eval.jsonl").exists(),
    reason="fixtures/classifier/train.jsonl or eval.jsonl is absent",
)
def test_quality_floor_on_the_held_out_set():
    # Temperature scaling never changes the arg-max, so skipping cross-validation here gives
    # the same labels as the shipped model, in a fraction of the time.
    model = train(load_examples(DATA / "train.jsonl"), seed=0, cv_folds=0)
    report = evaluate(model, load_examples(DATA / "eval.jsonl"), threshold=0.6)
    assert report["n"] >= 650
    assert set(report["per_class"]) == set(LABELS)
    assert report["macro_f1"] >= MACRO_F1_FLOOR, report["macro_f1"]
    assert report["per_class"]["public_space_report"]["recall"] >= REPORT_RECALL_FLOOR
