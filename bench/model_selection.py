"""Compare candidate label models by stratified 5-fold cross-validation on the training set."""

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from classifier import LABELS, load_examples
from classifier.evaluation import expected_calibration_error, label_metrics
from classifier.model import build_pipeline, fit_side_models, fit_temperature, softmax
from classifier.text import FUNCTION_WORDS, normalize
from classifier.urgency import urgent_phrase

ROOT = Path(__file__).resolve().parent.parent


def words(ngrams=(1, 2), **extra):
    return TfidfVectorizer(preprocessor=normalize, ngram_range=ngrams, min_df=2, sublinear_tf=True, **extra)


def chars(ngrams=(2, 5)):
    return TfidfVectorizer(preprocessor=normalize, analyzer="char_wb", ngram_range=ngrams, min_df=2, sublinear_tf=True)


def union(*parts):
    return FeatureUnion([(f"part{i}", part) for i, part in enumerate(parts)])


def logistic(C, seed):
    return LogisticRegression(C=C, solver="newton-cg", max_iter=200, random_state=seed)


def candidates(seed: int) -> dict:
    """Name -> (factory of an unfitted estimator, whether its scores are logits to temperature-scale)."""
    return {
        "LR, word 1-2 (baseline)": (lambda: Pipeline([("f", words()), ("m", logistic(10, seed))]), True),
        "ComplementNB, word 1-2": (lambda: Pipeline([("f", words()), ("m", ComplementNB(alpha=0.3))]), False),
        "LR, char_wb 2-5": (lambda: Pipeline([("f", chars()), ("m", logistic(10, seed))]), True),
        "LR, word 1-2 + char_wb 2-5, C=3": (lambda: build_pipeline(seed=seed, C=3.0), True),
        "LR, word 1-2 + char_wb 2-5, C=10 (chosen)": (lambda: build_pipeline(seed=seed, C=10.0), True),
        "LR, word 1-2 + char_wb 2-5, C=30": (lambda: build_pipeline(seed=seed, C=30.0), True),
        "LR, word 1-2 + char_wb 2-5, balanced": (
            lambda: build_pipeline(seed=seed, class_weight="balanced"),
            True,
        ),
        "LR, word 1-2 (stop words) + char_wb 2-5": (
            lambda: Pipeline(
                [("f", union(words(stop_words=sorted(FUNCTION_WORDS)), chars())), ("m", logistic(10, seed))]
            ),
            True,
        ),
        "LR, word 1-3 + char_wb 1-6": (
            lambda: Pipeline([("f", union(words((1, 3)), chars((1, 6)))), ("m", logistic(10, seed))]),
            True,
        ),
        "LinearSVC + sigmoid calibration, word 1-2 + char_wb 2-5": (
            lambda: Pipeline(
                [
                    ("f", union(words(), chars())),
                    ("m", CalibratedClassifierCV(LinearSVC(C=0.5, random_state=seed), method="sigmoid", cv=3)),
                ]
            ),
            False,
        ),
    }


def out_of_fold(factory, texts, truth, seed, folds):
    probabilities = np.zeros((len(texts), len(LABELS)))
    logits = np.zeros_like(probabilities)
    fold_f1 = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_index, test_index in splitter.split(texts, truth):
        estimator = factory().fit(texts[train_index], truth[train_index])
        probabilities[test_index] = estimator.predict_proba(texts[test_index])
        if hasattr(estimator, "decision_function"):
            logits[test_index] = estimator.decision_function(texts[test_index])
        predicted = probabilities[test_index].argmax(axis=1)
        fold_f1.append(
            label_metrics([LABELS[i] for i in truth[test_index]], [LABELS[i] for i in predicted])["macro_f1"]
        )
    return probabilities, logits, np.std(fold_f1)


def side_models(examples, seed, folds) -> None:
    """Subcategory and urgency candidates, scored on the true public-space reports of each test fold."""
    texts = np.array([example.text for example in examples], dtype=object)
    truth = np.array([LABELS.index(example.label) for example in examples])
    subcategory_candidates = {
        "LogisticRegression C=10": lambda: logistic(10, seed),
        "LinearSVC C=1 (chosen)": lambda: LinearSVC(C=1.0, random_state=seed),
    }
    correct = {name: 0 for name in subcategory_candidates}
    urgent = {"phrases only": [], "LinearSVC only": [], "LinearSVC or phrases (chosen)": []}
    truth_urgent, total = [], 0
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_index, test_index in splitter.split(texts, truth):
        features = build_pipeline(seed=seed).named_steps["features"]
        train_features = features.fit_transform(texts[train_index])
        reports = [i for i in train_index if examples[i].label == "public_space_report" and examples[i].subcategory]
        position = {i: k for k, i in enumerate(train_index)}
        test_reports = [i for i in test_index if examples[i].label == "public_space_report" and examples[i].subcategory]
        test_features = features.transform(texts[test_reports])
        for name, factory in subcategory_candidates.items():
            model = factory().fit(
                train_features[[position[i] for i in reports]], [examples[i].subcategory for i in reports]
            )
            correct[name] += int(
                (model.predict(test_features) == [examples[i].subcategory for i in test_reports]).sum()
            )
        _, urgency_model = fit_side_models(train_features, [examples[i] for i in train_index], seed=seed)
        learned = urgency_model.predict(test_features).astype(bool)
        phrases = np.array([urgent_phrase(normalize(examples[i].text)) is not None for i in test_reports])
        urgent["phrases only"] += list(phrases)
        urgent["LinearSVC only"] += list(learned)
        urgent["LinearSVC or phrases (chosen)"] += list(learned | phrases)
        truth_urgent += [examples[i].urgent for i in test_reports]
        total += len(test_reports)
    print(f"\nSubcategory, {total} public-space reports (true label given), {folds}-fold CV\n")
    print("| model | accuracy |\n| --- | --- |")
    for name, count in correct.items():
        print(f"| {name} | {count / total:.3f} |")
    truth_urgent = np.array(truth_urgent)
    print(f"\nUrgency on the same reports ({truth_urgent.sum()} urgent)\n")
    print("| detector | precision | recall |\n| --- | --- | --- |")
    for name, flags in urgent.items():
        flags = np.array(flags)
        hits = (flags & truth_urgent).sum()
        print(f"| {name} | {hits / max(flags.sum(), 1):.3f} | {hits / truth_urgent.sum():.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT / "fixtures" / "classifier" / "train.jsonl")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", help="run only label candidates whose name contains this")
    parser.add_argument("--skip-labels", action="store_true", help="only the subcategory and urgency tables")
    args = parser.parse_args()

    examples = load_examples(args.data)
    texts = np.array([example.text for example in examples], dtype=object)
    truth = np.array([LABELS.index(example.label) for example in examples])
    print(f"{len(examples)} examples from {args.data}, stratified {args.folds}-fold CV, seed {args.seed}\n")
    header = "| model | macro-F1 (± fold sd) | accuracy | PSR recall | ECE | ECE after temperature | seconds |"
    print(header)
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, (factory, scalable) in candidates(args.seed).items():
        if args.skip_labels or (args.only and args.only not in name):
            continue
        started = time.perf_counter()
        probabilities, logits, spread = out_of_fold(factory, texts, truth, args.seed, args.folds)
        seconds = time.perf_counter() - started
        predicted = probabilities.argmax(axis=1)
        metrics = label_metrics([LABELS[i] for i in truth], [LABELS[i] for i in predicted])
        ece = expected_calibration_error(probabilities.max(axis=1), predicted == truth)["ece"]
        scaled = "–"
        if scalable:
            calibrated = softmax(logits / fit_temperature(logits, truth))
            scaled = f"{expected_calibration_error(calibrated.max(axis=1), predicted == truth)['ece']:.3f}"
        recall = metrics["per_class"]["public_space_report"]["recall"]
        print(
            f"| {name} | {metrics['macro_f1']:.3f} ± {spread:.3f} | {metrics['accuracy']:.3f} | {recall:.3f} "
            f"| {ece:.3f} | {scaled} | {seconds:.1f} |",
            flush=True,
        )
    side_models(examples, args.seed, args.folds)


if __name__ == "__main__":
    main()
