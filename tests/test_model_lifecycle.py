"""Models learn from people's corrections, are versioned, and a worse model is never activated by itself."""

import json

import pytest
from sqlmodel import Session

import classifier
from models import Ticket
from service import modelops
from service.modelops import EVAL_DATA, TRAIN_DATA
from tests.api.test_queue import at, post
from tests.conftest import make_settings

CORRECTED_TEXT = "Zwerfvuil en glasscherven bij de bankjes van het Blauwe Pad, kan iemand dat komen opruimen"


@pytest.fixture
def small_training_file(tmp_path):
    path = tmp_path / "train-small.jsonl"
    path.write_text("".join(TRAIN_DATA.read_text(encoding="utf-8").splitlines(keepends=True)[:900]), encoding="utf-8")
    return path


def test_a_correction_through_the_api_changes_the_next_model(
    client, users, clock, db, database_url, tmp_path, small_training_file
):
    # The stand-in classifier calls this communication; an agent corrects it to a public-space report.
    clock.set(at(18, 10, 1))
    ticket = post(client, users, "c1", CORRECTED_TEXT, at(18, 10))
    assert ticket["category"] == "communication"
    corrected = client.patch(
        f"/api/v1/tickets/{ticket['id']}",
        json={"version": ticket["version"], "category": "public_space_report"},
        headers=users["admin"],
    )
    assert corrected.status_code == 200

    settings = make_settings(database_url, model_path=tmp_path / "models")
    feedback = modelops.feedback_examples(db)
    assert [(e.text, e.label) for e in feedback] == [(CORRECTED_TEXT, "public_space_report")]

    without = modelops.train_model(settings, data=small_training_file, eval_data=EVAL_DATA)
    with_feedback = modelops.train_model(
        settings, data=small_training_file, eval_data=EVAL_DATA, extra_examples=feedback
    )

    models = {v["version"]: v for v in modelops.registry(settings).versions()}
    assert models[with_feedback.version]["feedback_examples"] == 1
    before = classifier.load(tmp_path / "models" / without.version).predict_proba([CORRECTED_TEXT])[0]
    after = classifier.load(tmp_path / "models" / with_feedback.version).predict_proba([CORRECTED_TEXT])[0]
    report = classifier.LABELS.index("public_space_report")
    assert after[report] > before[report]


def test_a_worse_model_is_refused_activation_and_rollback_works(tmp_path, small_training_file):
    settings = make_settings("sqlite://", model_path=tmp_path / "models")
    good = modelops.train_model(settings, data=small_training_file, eval_data=EVAL_DATA)
    assert good.activated

    tiny = tmp_path / "tiny.jsonl"
    tiny.write_text("".join(small_training_file.read_text(encoding="utf-8").splitlines(keepends=True)[:40]))
    worse = modelops.train_model(settings, data=tiny, eval_data=EVAL_DATA)
    assert not worse.activated
    assert "NOT activated" in worse.summary
    registry = modelops.registry(settings)
    assert registry.active_version() == good.version

    with pytest.raises(classifier.ModelError, match="below the active model"):
        modelops.activate(settings, worse.version)
    modelops.activate(settings, worse.version, force=True)
    assert registry.active_version() == worse.version
    assert registry.rollback() == good.version
    assert classifier.load_model(tmp_path / "models").version == good.version


def test_tickets_keep_the_version_that_classified_them(client, users, clock, db):
    clock.set(at(18, 10, 1))
    ticket = post(client, users, "v1", "Lantaarnpaal kapot", at(18, 10))
    with Session(db) as session:
        assert session.get(Ticket, ticket["id"]).model_version == "test-keywords"


def test_train_if_missing_replaces_a_model_saved_in_an_older_format(trained_model, tmp_path):
    settings = make_settings("sqlite://", model_path=str(tmp_path))
    assert not modelops.has_current_model(settings)
    classifier.save(trained_model, tmp_path)
    assert modelops.has_current_model(settings)
    sidecar = tmp_path / "model.json"
    sidecar.write_text(json.dumps({**json.loads(sidecar.read_text()), "format": "webcare-classifier/1"}))
    classifier.load_model(tmp_path)  # it still loads and serves...
    assert not modelops.has_current_model(settings)  # ...but --if-missing trains a model of the current format
