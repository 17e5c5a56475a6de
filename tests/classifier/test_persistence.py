"""Safe save/load of artifacts and the versioned model registry."""

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import sklearn
import skops.io
from sklearn.preprocessing import FunctionTransformer

from classifier import Example, ModelError, ModelRegistry, load, load_model, save, train
from classifier.persistence import default_model_home

TEXTS = ["Hoe vraag ik een paspoort aan?", "Lantaarnpaal kapot in de Kerkstraat", "Schandalig beleid", "Ik ruik gas"]


def _rewrite_sidecar(directory: Path, **changes) -> None:
    path = directory / "model.json"
    metadata = json.loads(path.read_text())
    metadata.update(changes)
    path.write_text(json.dumps(metadata))


def test_round_trip_gives_identical_predictions_and_metadata(model, tmp_path):
    model.metadata["evaluation"] = {"macro_f1": 0.5}
    try:
        assert save(model, tmp_path / "artifact") == tmp_path / "artifact"
    finally:
        del model.metadata["evaluation"]
    loaded = load(tmp_path / "artifact")
    assert loaded.predict(TEXTS) == model.predict(TEXTS)
    assert loaded.version == model.version
    sidecar = json.loads((tmp_path / "artifact" / "model.json").read_text())
    assert sidecar["evaluation"] == {"macro_f1": 0.5}
    assert sidecar["model_sha256"] == hashlib.sha256((tmp_path / "artifact" / "model.skops").read_bytes()).hexdigest()
    for key in (
        "version",
        "created_at",
        "sklearn_version",
        "numpy_version",
        "python_version",
        "labels",
        "subcategories",
        "training_data",
        "seed",
        "cross_validation",
    ):
        assert key in sidecar
    assert loaded.metadata == sidecar


def _vocabularies(model) -> dict[str, dict[str, int]]:
    return {
        name: vectorizer.vocabulary_ for name, vectorizer in model.pipeline.named_steps["features"].transformer_list
    }


def test_vocabularies_are_stored_as_arrays_not_in_the_json_schema(model, tmp_path):
    # skops writes a dict as JSON nodes: the real vocabularies made a 31 MB schema that cost ~108 MiB to load.
    before = {name: dict(vocabulary) for name, vocabulary in _vocabularies(model).items()}
    save(model, tmp_path)
    with zipfile.ZipFile(tmp_path / "model.skops") as artifact:
        schema = artifact.read("schema.json").decode()
    assert '"vocabulary_"' not in schema
    assert _vocabularies(model) == before  # saving leaves the live model alone
    loaded = load(tmp_path)
    assert _vocabularies(loaded) == before
    assert "vocabularies" not in loaded.estimators
    np.testing.assert_array_equal(loaded.pipeline.predict_proba(TEXTS), model.pipeline.predict_proba(TEXTS))


def test_a_vocabulary_that_an_array_cannot_hold_is_refused(examples, tmp_path):
    # numpy strings drop trailing NUL characters; the character n-grams of "kapot\0..." end in one.
    with_nul = [Example("lamp kapot\0 kerkstraat", "public_space_report", lang="nl")] * 2
    with pytest.raises(ModelError, match="NUL"):
        save(train(examples + with_nul, seed=0, cv_folds=0), tmp_path)


def test_a_format_1_artifact_still_loads(model, tmp_path):
    # Format 1 kept the vocabularies inside the vectorizers (skops' plain dump of the estimators).
    save(model, tmp_path)
    skops.io.dump(model.estimators, tmp_path / "model.skops")
    with zipfile.ZipFile(tmp_path / "model.skops") as artifact:
        assert '"vocabulary_"' in artifact.read("schema.json").decode()
    digest = hashlib.sha256((tmp_path / "model.skops").read_bytes()).hexdigest()
    _rewrite_sidecar(tmp_path, format="webcare-classifier/1", model_sha256=digest)
    assert load(tmp_path).predict(TEXTS) == model.predict(TEXTS)


def test_unknown_format_is_refused_with_the_way_out(model, tmp_path):
    save(model, tmp_path)
    _rewrite_sidecar(tmp_path, format="webcare-classifier/0")
    with pytest.raises(ModelError, match=r"format 'webcare-classifier/0'.*webcare train"):
        load(tmp_path)


def test_changed_model_file_is_refused(model, tmp_path):
    save(model, tmp_path)
    with open(tmp_path / "model.skops", "ab") as stream:
        stream.write(b"\0")
    with pytest.raises(ModelError, match="model file was changed"):
        load(tmp_path)


def test_other_sklearn_version_is_refused_naming_both_versions(model, tmp_path):
    save(model, tmp_path)
    _rewrite_sidecar(tmp_path, sklearn_version="0.24.2")
    with pytest.raises(ModelError, match=rf"scikit-learn 0\.24\.2.*scikit-learn {sklearn.__version__}"):
        load(tmp_path)


def test_untrusted_type_is_refused_before_loading(model, tmp_path):
    save(model, tmp_path)
    # A well-formed artifact whose sidecar checksum is right but which smuggles in os.system.
    estimators = dict(model.estimators, subcategory=FunctionTransformer(func=os.system))
    skops.io.dump(estimators, tmp_path / "model.skops")
    _rewrite_sidecar(tmp_path, model_sha256=hashlib.sha256((tmp_path / "model.skops").read_bytes()).hexdigest())
    with pytest.raises(ModelError, match=r"types that are not allowed: .*system"):
        load(tmp_path)


def test_missing_files_are_clear_errors(model, tmp_path):
    with pytest.raises(ModelError, match="no model sidecar"):
        load(tmp_path)
    save(model, tmp_path)
    (tmp_path / "model.skops").unlink()
    with pytest.raises(ModelError, match="is missing"):
        load(tmp_path)


def test_registry_add_activate_rollback(examples, model, tmp_path):
    registry = ModelRegistry(tmp_path / "models")
    assert registry.versions() == []
    assert registry.active_version() is None
    with pytest.raises(ModelError, match="no active model"):
        registry.load_active()

    first = registry.add(model)
    second_model = train(examples, seed=1, cv_folds=0)
    second = registry.add(second_model)
    assert first == model.version and second == second_model.version
    assert registry.active_version() is None  # adding does not activate
    with pytest.raises(ModelError, match="already exists"):
        registry.add(model)
    with pytest.raises(ModelError, match="no model version"):
        registry.activate("1999-01-01T00-00-00-000000")

    registry.activate(first)
    with pytest.raises(ModelError, match="no previously active"):
        registry.rollback()
    registry.activate(second)
    assert registry.active_version() == second
    listed = registry.versions()
    assert [entry["version"] for entry in listed] == sorted([first, second], reverse=True)
    assert {entry["version"]: entry["active"] for entry in listed} == {first: False, second: True}
    assert registry.load_active().predict(TEXTS) == second_model.predict(TEXTS)

    assert registry.rollback() == first
    assert registry.active_version() == first
    assert (tmp_path / "models" / "ACTIVE").read_text().strip() == first
    assert registry.load_active().predict(TEXTS) == model.predict(TEXTS)
    with pytest.raises(ModelError, match="no previously active"):
        registry.rollback()


def test_load_model_takes_an_artifact_or_a_registry(model, tmp_path):
    save(model, tmp_path / "artifact")
    assert load_model(tmp_path / "artifact").version == model.version
    registry = ModelRegistry(tmp_path / "registry")
    registry.activate(registry.add(model))
    assert load_model(str(tmp_path / "registry")).version == model.version
    with pytest.raises(ModelError, match="no model at"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(ModelError, match="no active model"):
        load_model(tmp_path / "artifact" / "..")  # a folder with neither a sidecar nor ACTIVE


def test_default_model_home_is_inside_the_package():
    assert default_model_home() == Path(__file__).resolve().parents[2] / "classifier" / "artifacts"
