"""Training and prediction: word+character TF-IDF with a calibrated linear model, plus subcategory and urgency."""

import os
import platform
import re
import secrets
from array import array
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import scipy
import sklearn
from scipy.optimize import minimize_scalar
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from sklearn.utils.parallel import Parallel, delayed

from classifier.evaluation import expected_calibration_error, label_metrics
from classifier.schema import LABELS, SUBCATEGORIES, Example, ModelError, Prediction, examples_sha256
from classifier.text import is_function_phrase, normalize, readable
from classifier.urgency import urgent_phrase

# 2: the vectorizers' vocabularies are stored beside them as arrays (classifier/persistence.py, _for_disk).
FORMAT = "webcare-classifier/2"
MAX_REASONS = 5
# Chosen by 5-fold cross-validation on the training set (see MODEL_CARD.md, bench/model_selection.py).
PARAMS = {
    "word_ngram_range": (1, 2),
    "char_ngram_range": (2, 5),
    "min_df": 2,
    "C": 10.0,
    "class_weight": None,
}
_PSR = LABELS.index("public_space_report")


def build_pipeline(*, seed: int = 0, **overrides) -> Pipeline:
    """The unfitted label pipeline; normalize() runs as both vectorizers' preprocessor."""
    params = {**PARAMS, **overrides}
    features = FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    preprocessor=normalize,
                    ngram_range=params["word_ngram_range"],
                    min_df=params["min_df"],
                    sublinear_tf=True,
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    preprocessor=normalize,
                    analyzer="char_wb",
                    ngram_range=params["char_ngram_range"],
                    min_df=params["min_df"],
                    sublinear_tf=True,
                ),
            ),
        ]
    )
    # newton-cg converges in a handful of iterations here, 4-5x faster than lbfgs.
    classifier = LogisticRegression(
        C=params["C"], class_weight=params["class_weight"], solver="newton-cg", max_iter=200, random_state=seed
    )
    return Pipeline([("features", features), ("classifier", classifier)])


def new_version(now: datetime | None = None) -> str:
    """Sortable, unique model version: UTC time plus a random suffix."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H-%M-%S-") + secrets.token_hex(3)


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def fit_temperature(scores: np.ndarray, truth: np.ndarray) -> float:
    """One scalar that rescales decision scores to minimise held-out log loss (temperature scaling)."""

    def negative_log_likelihood(log_temperature: float) -> float:
        probabilities = softmax(scores / np.exp(log_temperature))
        return -np.log(np.clip(probabilities[np.arange(len(truth)), truth], 1e-12, None)).mean()

    result = minimize_scalar(negative_log_likelihood, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(result.x))


def fit_side_models(features, examples: Sequence[Example], *, seed: int = 0) -> tuple:
    """Subcategory and urgency models, fitted on the public-space reports among the examples.

    Either is None when the reports do not hold two classes to tell apart.
    """
    reports = [i for i, example in enumerate(examples) if example.label == "public_space_report"]
    with_subcategory = [i for i in reports if examples[i].subcategory]
    subcategory_model = urgency_model = None
    # Linear SVMs: only the arg-max is needed here (no probabilities), and in cross-validation they
    # were both more accurate and 10-20x faster to fit than logistic regression (MODEL_CARD.md).
    if len({examples[i].subcategory for i in with_subcategory}) >= 2:
        subcategory_model = LinearSVC(C=1.0, random_state=seed)
        subcategory_model.fit(features[with_subcategory], np.array([examples[i].subcategory for i in with_subcategory]))
    if len({examples[i].urgent for i in reports}) == 2:
        # Balanced: urgent reports are rare, and a missed one costs more than a false alarm.
        urgency_model = LinearSVC(C=0.5, class_weight="balanced", random_state=seed)
        urgency_model.fit(features[reports], np.array([examples[i].urgent for i in reports]))
    return subcategory_model, urgency_model


def _fold(examples: list[Example], train_index, test_index, seed: int, overrides: dict):
    """Out-of-fold label scores, subcategories and urgency flags for one cross-validation split."""
    texts = np.array([example.text for example in examples], dtype=object)
    pipeline = build_pipeline(seed=seed, **overrides)
    features, label_model = pipeline.named_steps["features"], pipeline.named_steps["classifier"]
    train_features = features.fit_transform(texts[train_index])
    # Fitted on label indices, so classes_ are 0..2 in LABELS order already.
    label_model.fit(train_features, [LABELS.index(examples[i].label) for i in train_index])
    test_features = features.transform(texts[test_index])
    scores = label_model.decision_function(test_features)
    subcategory_model, urgency_model = fit_side_models(train_features, [examples[i] for i in train_index], seed=seed)
    subcategory = subcategory_model.predict(test_features) if subcategory_model is not None else None
    phrases = np.array([urgent_phrase(normalize(text)) is not None for text in texts[test_index]])
    learned = urgency_model.decision_function(test_features) > 0 if urgency_model is not None else False
    return scores, subcategory, (learned | phrases) & (scores.argmax(axis=1) == _PSR)


def cross_validate(examples: Sequence[Example], *, seed: int = 0, folds: int = 5, **overrides) -> dict:
    """Stratified k-fold out-of-fold metrics for the label, subcategory and urgency models."""
    examples = list(examples)
    texts = np.array([example.text for example in examples], dtype=object)
    truth = np.array([LABELS.index(example.label) for example in examples])
    scores = np.zeros((len(examples), len(LABELS)))
    subcategory = np.full(len(examples), None, dtype=object)
    urgent = np.zeros(len(examples), dtype=bool)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(texts, truth))
    # Folds are independent: run them side by side (training must stay within seconds), except
    # for small sets, where starting worker processes costs more than it saves.
    jobs = min(folds, os.cpu_count() or 1) if len(examples) >= 1000 else 1
    results = Parallel(n_jobs=jobs)(
        delayed(_fold)(examples, train_index, test_index, seed, overrides) for train_index, test_index in splits
    )
    for (_, test_index), (fold_scores, fold_subcategory, fold_urgent) in zip(splits, results):
        scores[test_index] = fold_scores
        subcategory[test_index] = fold_subcategory
        urgent[test_index] = fold_urgent
    raw = softmax(scores)
    temperature = fit_temperature(scores, truth)
    calibrated = softmax(scores / temperature)
    predicted = raw.argmax(axis=1)
    metrics = label_metrics([LABELS[i] for i in truth], [LABELS[i] for i in predicted])
    reports = [
        i for i, example in enumerate(examples) if example.label == "public_space_report" and example.subcategory
    ]
    true_urgent = np.array([example.urgent for example in examples])
    hits = int((urgent & true_urgent).sum())
    return {
        "folds": folds,
        "macro_f1": metrics["macro_f1"],
        "accuracy": metrics["accuracy"],
        "per_class": metrics["per_class"],
        "ece_uncalibrated": expected_calibration_error(raw.max(axis=1), predicted == truth)["ece"],
        "ece": expected_calibration_error(calibrated.max(axis=1), predicted == truth)["ece"],
        "temperature": temperature,
        # Given the true label, as the subcategory model only ever sees predicted reports.
        "subcategory_accuracy": float(np.mean([subcategory[i] == examples[i].subcategory for i in reports]))
        if reports
        else None,
        "urgent_precision": hits / urgent.sum() if urgent.sum() else 0.0,
        "urgent_recall": hits / true_urgent.sum() if true_urgent.sum() else 0.0,
        "out_of_fold_scores": scores,
    }


def train(examples: Sequence[Example], *, seed: int = 0, cv_folds: int = 5) -> "Classifier":
    """Fit label, subcategory and urgency models; cv_folds > 1 also records cross-validation metrics and calibrates."""
    examples = list(examples)
    missing = [label for label in LABELS if not any(example.label == label for example in examples)]
    if missing:
        raise ValueError(f"training data has no examples of {', '.join(missing)}")
    texts = [example.text for example in examples]

    cv = None
    temperature = 1.0
    if cv_folds > 1:
        cv = cross_validate(examples, seed=seed, folds=cv_folds)
        cv.pop("out_of_fold_scores")
        # Only ever soften: cross-validation on template-generated training data is optimistic,
        # so a temperature below 1 would make the model surer than it is on real messages.
        temperature = max(1.0, cv["temperature"])

    pipeline = build_pipeline(seed=seed)
    label_model = pipeline.named_steps["classifier"]
    features = pipeline.named_steps["features"].fit_transform(texts)
    label_model.fit(features, np.array([example.label for example in examples]))
    # Temperature scaling folded into the weights, so the plain sklearn pipeline gives the same
    # calibrated probabilities as our fast path.
    label_model.coef_ = label_model.coef_ / temperature
    label_model.intercept_ = label_model.intercept_ / temperature
    subcategory_model, urgency_model = fit_side_models(features, examples, seed=seed)
    reported = sorted({example.subcategory for example in examples if example.label == "public_space_report"} - {None})

    created_at = datetime.now(UTC)
    version = new_version(created_at)
    metadata = {
        "format": FORMAT,
        "version": version,
        "created_at": created_at.isoformat(),
        "python_version": platform.python_version(),
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "scipy_version": scipy.__version__,
        "labels": list(LABELS),
        "subcategories": list(SUBCATEGORIES),
        "training_data": {
            "sha256": examples_sha256(examples),
            "size": len(examples),
            "label_counts": dict(Counter(example.label for example in examples)),
            "urgent": sum(example.urgent for example in examples),
        },
        "seed": seed,
        "params": {key: list(value) if isinstance(value, tuple) else value for key, value in PARAMS.items()},
        "temperature": temperature,
        "cross_validation": cv,
        "subcategory_fallback": reported[0] if len(reported) == 1 else "other",
    }
    estimators = {"pipeline": pipeline, "subcategory": subcategory_model, "urgency": urgency_model}
    return Classifier(estimators, version=version, metadata=metadata)


class _Block:
    """One fitted TF-IDF vectorizer, re-implemented for fast transform of pre-normalised text."""

    def __init__(self, vectorizer: TfidfVectorizer, offset: int):
        if not (
            vectorizer.preprocessor is normalize
            and vectorizer.analyzer in ("word", "char_wb")
            and vectorizer.sublinear_tf
            and vectorizer.use_idf
            and vectorizer.norm == "l2"
            and vectorizer.stop_words is None
            and vectorizer.tokenizer is None
            and not vectorizer.binary
        ):
            raise ModelError("the model artifact holds a vectorizer this version of the classifier did not build")
        self.analyzer = vectorizer.analyzer
        self.vocabulary = vectorizer.vocabulary_
        self.idf = vectorizer.idf_
        self.offset = offset
        self.size = len(self.vocabulary)
        self.ngram_range = vectorizer.ngram_range
        self.token_pattern = re.compile(vectorizer.token_pattern)
        self._word_cache: dict[str, array] = {}
        self._names: list[str] | None = None
        self._shown: np.ndarray | None = None

    def names(self) -> list[str]:
        if self._names is None:
            names = [""] * self.size
            for term, index in self.vocabulary.items():
                names[index] = term
            self._names = names
        return self._names

    def shown(self) -> np.ndarray:
        """Per column: may this feature be shown as a reason (not only function words or blanks)?"""
        if self._shown is None:
            if self.analyzer == "word":
                shown = [not is_function_phrase(name) for name in self.names()]
            else:
                shown = [len(name.strip()) > 1 for name in self.names()]
            self._shown = np.array(shown, dtype=bool)
        return self._shown

    def columns(self, text: str) -> list[int] | array:
        """Column indices (with repeats, one per occurrence) of the n-grams of one normalised text."""
        if self.analyzer == "word":
            return self._word_columns(text)
        return self._char_columns(text)

    def _word_columns(self, text: str) -> list[int]:
        tokens = self.token_pattern.findall(text)
        low, high = self.ngram_range
        if (low, high) == (1, 2):  # the shape we train, spelled out for speed
            grams = tokens + [f"{first} {second}" for first, second in zip(tokens, tokens[1:])]
        else:
            grams = [" ".join(tokens[i : i + n]) for n in range(low, high + 1) for i in range(len(tokens) - n + 1)]
        vocabulary = self.vocabulary
        columns = [vocabulary[gram] for gram in grams if gram in vocabulary]
        if self.offset:
            columns = [column + self.offset for column in columns]
        return columns

    def _char_columns(self, text: str) -> array:
        # char_wb n-grams never cross a word boundary, so the columns of a word can be cached.
        cache = self._word_cache
        columns = array("i")
        for word in text.split():
            cached = cache.get(word)
            if cached is None:
                cached = self._char_word_columns(word)
                if len(cache) > 200_000:
                    cache.clear()
                cache[word] = cached
            columns.extend(cached)
        return columns

    def _char_word_columns(self, word: str) -> array:
        # Mirrors sklearn's _char_wb_ngrams: pad the word with spaces; a word shorter than n
        # contributes itself once.
        padded = f" {word} "
        length = len(padded)
        vocabulary = self.vocabulary
        offset = self.offset
        columns = array("i")
        low, high = self.ngram_range
        for n in range(low, high + 1):
            for start in range(max(length - n + 1, 1)):
                gram = padded[start : start + n]
                index = vocabulary.get(gram)
                if index is not None:
                    columns.append(index + offset)
            if length <= n:
                break
        return columns


class Classifier:
    """A fitted model, ready to predict; predict() is a vectorised re-implementation of the pipeline."""

    def __init__(self, estimators: dict, *, version: str, metadata: dict):
        self.estimators = estimators
        self.version = version
        self.metadata = metadata
        pipeline = estimators["pipeline"]
        label_model = pipeline.named_steps["classifier"]
        classes = [str(label) for label in label_model.classes_]
        if sorted(classes) != sorted(LABELS):
            raise ModelError(f"model labels {classes} differ from {list(LABELS)}")
        order = [classes.index(label) for label in LABELS]
        self._blocks = []
        offset = 0
        for _, vectorizer in pipeline.named_steps["features"].transformer_list:
            block = _Block(vectorizer, offset)
            self._blocks.append(block)
            offset += block.size
        self._n_features = offset
        self._block_ends = np.array([block.offset + block.size for block in self._blocks])
        self._idf = np.concatenate([block.idf for block in self._blocks])
        self._shown_mask: np.ndarray | None = None
        self._readable_names: dict[int, str] = {}
        self._shown()  # built now rather than on the first request
        self._label_coef = np.ascontiguousarray(label_model.coef_.T[:, order])  # (features, labels)
        self._label_intercept = label_model.intercept_[order]
        self._subcategory_model = estimators.get("subcategory")
        if self._subcategory_model is not None:
            self._subcategory_coef = np.ascontiguousarray(self._subcategory_model.coef_.T)
            self._subcategory_intercept = self._subcategory_model.intercept_
            self._subcategory_classes = [str(c) for c in self._subcategory_model.classes_]
        self._subcategory_fallback = metadata.get("subcategory_fallback", "other")
        self._urgency_model = estimators.get("urgency")
        if self._urgency_model is not None:
            # Binary: one weight column; a positive score means "urgent".
            self._urgency_coef = np.ascontiguousarray(self._urgency_model.coef_.T)
            self._urgency_intercept = self._urgency_model.intercept_
            self._urgent_class = list(self._urgency_model.classes_).index(True)

    @property
    def pipeline(self) -> Pipeline:
        return self.estimators["pipeline"]

    def _features(self, normalized: list[str]) -> tuple[csr_matrix, np.ndarray]:
        """TF-IDF rows exactly as the fitted FeatureUnion makes them, and the row of each stored value."""
        n = len(normalized)
        columns = array("i")
        ends = array("q")
        extractors = [block.columns for block in self._blocks]
        if [block.analyzer for block in self._blocks] == ["word", "char_wb"]:
            extractors = [self._blocks[0]._word_columns, self._blocks[1]._char_columns]
        for text in normalized:
            for extract in extractors:
                columns.extend(extract(text))
            ends.append(len(columns))
        indptr = np.zeros(n + 1, dtype=np.int64)
        indptr[1:] = np.frombuffer(ends, dtype=np.int64)
        ones = np.ones(len(columns))
        features = csr_matrix((ones, np.frombuffer(columns, dtype=np.int32), indptr), shape=(n, self._n_features))
        features.sum_duplicates()  # counts per column, indices sorted within each row
        rows = np.repeat(np.arange(n), np.diff(features.indptr))
        values = (1.0 + np.log(features.data)) * self._idf[features.indices]
        # l2-normalise each row of each vectorizer separately, as the FeatureUnion does.
        if len(self._blocks) == 2:
            block_of = features.indices >= self._block_ends[0]
        else:
            block_of = np.searchsorted(self._block_ends, features.indices, side="right")
        group = rows * len(self._blocks) + block_of
        norms = np.sqrt(np.bincount(group, weights=values * values, minlength=n * len(self._blocks)))
        features.data = values / norms[group]
        return features, rows

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated label probabilities, columns in LABELS order."""
        features, _ = self._features([normalize(text) for text in texts])
        return softmax(features @ self._label_coef + self._label_intercept)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        if isinstance(texts, str):
            raise TypeError("predict() takes a sequence of texts, not one string")
        n = len(texts)
        if n == 0:
            return []
        normalized = [normalize(text) for text in texts]
        features, rows = self._features(normalized)
        probabilities = softmax(features @ self._label_coef + self._label_intercept)
        labels = probabilities.argmax(axis=1)
        confidences = probabilities[np.arange(n), labels].tolist()

        subcategories: list[str | None] = [None] * n
        urgent = [False] * n
        psr_rows = np.flatnonzero(labels == _PSR)
        if len(psr_rows):
            # Subcategory and urgency only for predicted reports.
            reports = features[psr_rows]
            if self._subcategory_model is None:
                found = [self._subcategory_fallback] * len(psr_rows)
            else:
                scores = reports @ self._subcategory_coef + self._subcategory_intercept
                found = [self._subcategory_classes[k] for k in scores.argmax(axis=1)]
            learned = np.zeros(len(psr_rows), dtype=bool)
            if self._urgency_model is not None:
                score = (reports @ self._urgency_coef + self._urgency_intercept)[:, 0]
                learned = score > 0 if self._urgent_class == 1 else score < 0
            for i, subcategory, flagged in zip(psr_rows.tolist(), found, learned.tolist()):
                subcategories[i] = subcategory
                urgent[i] = flagged or urgent_phrase(normalized[i]) is not None

        reasons = self._reasons(n, features, rows, labels)
        label_names = [LABELS[k] for k in labels.tolist()]
        return [Prediction(label_names[i], confidences[i], subcategories[i], urgent[i], reasons[i]) for i in range(n)]

    def _reasons(self, n: int, features: csr_matrix, rows: np.ndarray, labels: np.ndarray) -> list[tuple[str, ...]]:
        """Up to MAX_REASONS features with the largest weight * tf-idf towards each row's label."""
        cols = features.indices
        contribution = features.data * self._label_coef[cols, labels[rows]]
        candidates = (contribution > 0) & self._shown()[cols]
        is_word = cols < self._block_ends[0]
        found: list[list[str]] = [[] for _ in range(n)]
        # Word n-grams first; character n-grams only for messages where no word n-gram counted.
        word_hits = self._top(rows, contribution, candidates & is_word)
        has_word = np.zeros(n, dtype=bool)
        has_word[rows[word_hits]] = True
        char_hits = self._top(rows, contribution, candidates & ~is_word & ~has_word[rows])
        for hits in (word_hits, char_hits):
            for row, col in zip(rows[hits].tolist(), cols[hits].tolist()):
                reason = self._readable(col)
                # Character n-grams such as " mij" and "mij " read the same: show each once.
                if len(found[row]) < MAX_REASONS and reason not in found[row]:
                    found[row].append(reason)
        return [tuple(reasons) for reasons in found]

    @staticmethod
    def _top(rows: np.ndarray, contribution: np.ndarray, mask: np.ndarray, keep: int = 2 * MAX_REASONS) -> np.ndarray:
        """Positions of the `keep` largest masked contributions of each row, by row then size."""
        selected = np.flatnonzero(mask)
        order = selected[np.lexsort((-contribution[selected], rows[selected]))]
        ordered_rows = rows[order]
        rank = np.arange(len(order)) - np.searchsorted(ordered_rows, ordered_rows, side="left")
        return order[rank < keep]

    def _shown(self) -> np.ndarray:
        if self._shown_mask is None:
            self._shown_mask = np.concatenate([block.shown() for block in self._blocks])
        return self._shown_mask

    def _readable(self, column: int) -> str:
        name = self._readable_names.get(column)
        if name is None:
            block = self._blocks[int(np.searchsorted(self._block_ends, column, side="right"))]
            name = readable(block.names()[column - block.offset])
            self._readable_names[column] = name
        return name
