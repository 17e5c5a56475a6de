"""Safe persistence: skops artifact plus JSON sidecar, and a folder registry of versioned models."""

import copy
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import sklearn
import skops.io

from classifier.model import FORMAT, Classifier
from classifier.schema import ModelError

MODEL_FILE = "model.skops"
SIDECAR_FILE = "model.json"
ACTIVE_FILE = "ACTIVE"
HISTORY_FILE = "HISTORY"

# Format 1 kept the vocabularies inside the vectorizers; it still loads, with the old cost (see _for_disk).
READABLE_FORMATS = (FORMAT, "webcare-classifier/1")

# Types skops does not trust by default but we put there ourselves. Anything else in an
# artifact means it was not built by train(), and it is refused before any object is created.
# (scikit-learn estimators and numpy arrays are in skops' own default trusted set.)
ALLOWED_TYPES = frozenset({"classifier.text.normalize"})


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


def _for_disk(estimators: dict) -> dict:
    """A shallow copy of estimators with each vectorizer's vocabulary_ moved out, as an array of its terms by column.

    skops writes a dict as JSON, several nodes per entry: the ~36,000 terms made a 31 MB schema.json that took some
    108 MiB to parse while loading, enough to push a serving process past its memory budget. An array of strings is
    written as .npy and read back in a few MiB. The live model is not changed.
    """
    pipeline = copy.copy(estimators["pipeline"])
    features = copy.copy(pipeline.named_steps["features"])
    stored, vocabularies = [], {}
    for name, vectorizer in features.transformer_list:
        terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
        array = np.array(terms, dtype=str)
        # numpy drops trailing NUL characters from strings: refuse rather than save a different vocabulary.
        if array.tolist() != terms:
            raise ModelError(f"the {name} vocabulary holds terms that cannot be stored exactly (NUL characters)")
        vocabularies[name] = array
        vectorizer = copy.copy(vectorizer)
        del vectorizer.vocabulary_
        stored.append((name, vectorizer))
    features.transformer_list = stored
    pipeline.steps = [(name, features if name == "features" else step) for name, step in pipeline.steps]
    return {**estimators, "pipeline": pipeline, "vocabularies": vocabularies}


def _restore_vocabularies(estimators: dict) -> None:
    """Put the vocabularies that _for_disk moved out back into the vectorizers (format 1 has none to restore)."""
    vocabularies = estimators.pop("vocabularies", None)
    if vocabularies is None:
        return
    for name, vectorizer in estimators["pipeline"].named_steps["features"].transformer_list:
        vectorizer.vocabulary_ = {term: column for column, term in enumerate(vocabularies[name].tolist())}


def save(model: Classifier, directory: str | Path) -> Path:
    """Write model.skops and its model.json sidecar (with the artifact's sha256) into directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILE
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{MODEL_FILE}.")
    os.close(handle)
    try:
        skops.io.dump(_for_disk(model.estimators), temporary)
        os.replace(temporary, model_path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    model.metadata["version"] = model.version
    model.metadata["model_sha256"] = _sha256(model_path)
    sidecar = json.dumps(model.metadata, indent=2, ensure_ascii=False, default=str) + "\n"
    _write_atomically(directory / SIDECAR_FILE, sidecar.encode("utf-8"))
    return directory


def read_sidecar(directory: str | Path) -> dict:
    path = Path(directory) / SIDECAR_FILE
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"no model sidecar at {path}") from None
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot read model sidecar {path}: {error}") from None
    if not isinstance(metadata, dict):
        raise ModelError(f"model sidecar {path} is not a JSON object")
    return metadata


def load(directory: str | Path) -> Classifier:
    """Load an artifact after checking format, scikit-learn version, checksum and the types it holds."""
    directory = Path(directory)
    metadata = read_sidecar(directory)
    if metadata.get("format") not in READABLE_FORMATS:
        raise ModelError(
            f"model in {directory} has format {metadata.get('format')!r}, expected {FORMAT!r}; "
            "retrain it (webcare train)"
        )
    trained_with = str(metadata.get("sklearn_version", "unknown"))
    if _major_minor(trained_with) != _major_minor(sklearn.__version__):
        raise ModelError(
            f"model in {directory} was trained with scikit-learn {trained_with}, but scikit-learn "
            f"{sklearn.__version__} is installed; retrain it (webcare train) or install scikit-learn {trained_with}"
        )
    model_path = directory / MODEL_FILE
    if not model_path.is_file():
        raise ModelError(f"model file {model_path} is missing")
    if _sha256(model_path) != metadata.get("model_sha256"):
        raise ModelError(f"model file was changed: the sha256 of {model_path} does not match {SIDECAR_FILE}")
    try:
        untrusted = skops.io.get_untrusted_types(file=model_path)
    except Exception as error:
        raise ModelError(f"cannot read model file {model_path}: {error}") from None
    refused = sorted(set(untrusted) - ALLOWED_TYPES)
    if refused:
        raise ModelError(f"model file {model_path} holds types that are not allowed: {', '.join(refused)}")
    try:
        estimators = skops.io.load(model_path, trusted=list(untrusted))
    except Exception as error:
        raise ModelError(f"cannot load model file {model_path}: {error}") from None
    if not isinstance(estimators, dict) or "pipeline" not in estimators:
        raise ModelError(f"model file {model_path} does not hold a webcare classifier")
    try:
        _restore_vocabularies(estimators)
        return Classifier(estimators, version=str(metadata.get("version")), metadata=metadata)
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise ModelError(f"model file {model_path} does not hold a usable webcare classifier: {error}") from None


class ModelRegistry:
    """Versioned models under root/<version>/, the active one named in root/ACTIVE, activations in root/HISTORY."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def _history(self) -> list[str]:
        try:
            return [line.strip() for line in (self.root / HISTORY_FILE).read_text().splitlines() if line.strip()]
        except FileNotFoundError:
            return []

    def _set_active(self, version: str, history: list[str]) -> None:
        _write_atomically(self.root / HISTORY_FILE, "".join(f"{entry}\n" for entry in history).encode())
        _write_atomically(self.root / ACTIVE_FILE, f"{version}\n".encode())

    def versions(self) -> list[dict]:
        active = self.active_version()
        found = []
        if self.root.is_dir():
            for directory in self.root.iterdir():
                if (directory / SIDECAR_FILE).is_file():
                    try:
                        metadata = read_sidecar(directory)
                    except ModelError:
                        continue
                    metadata = {**metadata, "version": directory.name}
                    metadata["active"] = directory.name == active
                    found.append(metadata)
        # Versions start with their UTC creation time, so the name sorts by age.
        return sorted(found, key=lambda metadata: metadata["version"], reverse=True)

    def add(self, model: Classifier) -> str:
        directory = self.root / model.version
        if directory.exists():
            raise ModelError(f"model version {model.version} already exists in {self.root}")
        self.root.mkdir(parents=True, exist_ok=True)
        save(model, directory)
        return model.version

    def activate(self, version: str) -> None:
        if not (self.root / version / SIDECAR_FILE).is_file():
            raise ModelError(f"no model version {version} in {self.root}")
        if version == self.active_version():
            return
        self._set_active(version, self._history() + [version])

    def rollback(self) -> str:
        # HISTORY is a stack of activations: drop the current one and return to the one below it.
        history = self._history()
        current = self.active_version()
        while history and history[-1] == current:
            history.pop()
        while history and not (self.root / history[-1] / SIDECAR_FILE).is_file():
            history.pop()
        if not history:
            raise ModelError(f"no previously active model to roll back to in {self.root}")
        self._set_active(history[-1], history)
        return history[-1]

    def active_version(self) -> str | None:
        try:
            version = (self.root / ACTIVE_FILE).read_text().strip()
        except FileNotFoundError:
            return None
        return version or None

    def load_active(self) -> Classifier:
        version = self.active_version()
        if version is None:
            raise ModelError(f"no active model in {self.root}: train one (webcare train) or activate a version")
        return load(self.root / version)


def default_model_home() -> Path:
    return Path(__file__).resolve().parent / "artifacts"


def load_model(path: str | Path | None = None) -> Classifier:
    """Load one artifact folder (holding model.json) or the active model of a registry folder."""
    path = Path(path) if path is not None else default_model_home()
    if (path / SIDECAR_FILE).is_file():
        return load(path)
    if not path.is_dir():
        raise ModelError(f"no model at {path}: train one first (webcare train)")
    return ModelRegistry(path).load_active()
