"""Training the router: the pipeline, cross-validated figures and the auto-routing threshold."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from classifiers.data import DataError, Example, fingerprint
from classifiers.evaluate import DEFAULT_TARGET_ACCURACY, choose_threshold, evaluate, evaluate_probabilities
from classifiers.features import ArrayVocabTfidfVectorizer
from classifiers.predict import Prediction, predict, predict_proba
from classifiers.progress import Progress, monotonic

__all__ = [
    "DEFAULT_PARAMS",
    "Prediction",
    "TrainedModel",
    "build_pipeline",
    "cross_validated_probabilities",
    "monotonic",
    "predict",
    "predict_proba",
    "resolve_params",
    "train",
]

# Shares of one training run's bar: the fits (the folds and the final one, in one pool) take most of it.
FITTING_SHARE, THRESHOLD_AT, EVALUATE_AT = 0.9, 0.92, 0.96


# Chosen by 5-fold cross-validation on BANKING77 train.csv only (test.csv never used to choose);
# the candidates, their scores and the rule are in benchmarks/routing.py, which repeats it with --search.
# Temperature scaling (CalibratedClassifierCV, scikit-learn >= 1.8) fitted on a 3-fold split of one
# SVM trained on everything gave the lowest calibration error and the largest auto-routed share.
DEFAULT_PARAMS: dict[str, Any] = {
    "word_ngram": [1, 2],
    "char_ngram": [2, 5],
    "char_analyzer": "char_wb",
    "token_pattern": r"(?u)\b\w+\b",
    "min_df": 1,
    "word_weight": 1.0,
    "char_weight": 1.0,
    "model": "linear_svc",
    "C": 1.0,
    "tol": 1e-3,
    "multi_class": "ovr",
    "alpha": 1e-4,
    "class_weight": None,
    "calibration": "temperature",
    "calibration_cv": 3,
    "calibration_ensemble": False,
    "seed": 0,
}
MODELS = ("linear_svc", "logistic", "sgd")
CALIBRATIONS = ("sigmoid", "isotonic", "temperature", "none")


@dataclass
class TrainedModel:
    pipeline: Pipeline
    classes: list[str]
    metrics: dict[str, Any]
    params: dict[str, Any]
    train_seconds: float
    fingerprint: str
    n_examples: int = 0
    # "cv" when metrics are out-of-fold figures on the training data, "holdout" when from a held-out split.
    evaluated_on: str = "cv"
    fit_seconds: float = 0.0

    @property
    def threshold(self) -> float:
        return float(self.metrics["threshold"])


def resolve_params(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults overlaid with `params`, checked, in a JSON-friendly form (lists, not tuples)."""
    given = dict(params or {})
    unknown = sorted(set(given) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(f"unknown training parameters {unknown}; known: {sorted(DEFAULT_PARAMS)}")
    merged = {**DEFAULT_PARAMS, **given}
    for key in ("word_ngram", "char_ngram"):
        value = merged[key]
        if value is not None:
            low, high = (int(v) for v in value)
            if not 1 <= low <= high:
                raise ValueError(f"{key} must be [low, high] with 1 <= low <= high, got {value!r}")
            merged[key] = [low, high]
    if merged["word_ngram"] is None and merged["char_ngram"] is None:
        raise ValueError("at least one of word_ngram and char_ngram is needed")
    if merged["model"] not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {merged['model']!r}")
    if merged["calibration"] not in CALIBRATIONS:
        raise ValueError(f"calibration must be one of {CALIBRATIONS}, got {merged['calibration']!r}")
    if merged["model"] == "linear_svc" and merged["calibration"] == "none":
        raise ValueError("a linear_svc gives no probabilities without calibration")
    if merged["calibration"] != "none" and int(merged["calibration_cv"]) < 2:
        raise ValueError("calibration_cv must be at least 2")
    return merged


def build_pipeline(**params: Any) -> Pipeline:
    p = resolve_params(params)
    parts: list[tuple[str, TfidfVectorizer]] = []
    weights: dict[str, float] = {}
    if p["word_ngram"] is not None:
        parts.append(
            (
                "word",
                ArrayVocabTfidfVectorizer(
                    ngram_range=tuple(p["word_ngram"]),
                    token_pattern=p["token_pattern"],
                    sublinear_tf=True,
                    min_df=p["min_df"],
                ),
            )
        )
        weights["word"] = float(p["word_weight"])
    if p["char_ngram"] is not None:
        parts.append(
            (
                "char",
                ArrayVocabTfidfVectorizer(
                    analyzer=p["char_analyzer"],
                    ngram_range=tuple(p["char_ngram"]),
                    sublinear_tf=True,
                    min_df=p["min_df"],
                ),
            )
        )
        weights["char"] = float(p["char_weight"])

    classifier: Any
    if p["model"] == "linear_svc":
        classifier = LinearSVC(
            C=p["C"],
            tol=p["tol"],
            multi_class=p["multi_class"],
            class_weight=p["class_weight"],
            random_state=p["seed"],
        )
    elif p["model"] == "logistic":
        classifier = LogisticRegression(C=p["C"], class_weight=p["class_weight"], max_iter=1000)
    else:
        classifier = SGDClassifier(
            loss="modified_huber",
            alpha=p["alpha"],
            class_weight=p["class_weight"],
            random_state=p["seed"],
        )
    if p["calibration"] != "none":
        classifier = CalibratedClassifierCV(
            classifier,
            method=p["calibration"],
            cv=int(p["calibration_cv"]),
            ensemble=bool(p["calibration_ensemble"]),
        )
    return Pipeline([("features", FeatureUnion(parts, transformer_weights=weights)), ("classifier", classifier)])


def minimum_per_class(cv_folds: int, params: dict[str, Any]) -> int:
    """Fewest examples an area needs so that every split of training (outer CV, calibration CV) works."""
    calibration_cv = int(params["calibration_cv"]) if params["calibration"] != "none" else 1
    needed = max(cv_folds, 2)
    # After the outer split an area keeps n - ceil(n / cv_folds) examples for the calibration split.
    while cv_folds >= 2 and needed - math.ceil(needed / cv_folds) < calibration_cv:
        needed += 1
    return max(needed, calibration_cv)


def train(
    examples: Sequence[Example],
    *,
    params: dict[str, Any] | None = None,
    cv_folds: int = 5,
    progress: Progress | None = None,
    holdout: float = 0.0,
    seed: int = 0,
    n_jobs: int = 2,
    target_accuracy: float = DEFAULT_TARGET_ACCURACY,
) -> TrainedModel:
    """Fit the router on `examples`.

    The threshold always comes from out-of-fold probabilities on the data the model is fitted on.
    The metrics are those same cross-validated figures, or, with `holdout` > 0, figures on a
    stratified held-out share that the returned model never saw (it is then fitted without it).

    With n_jobs > 1 the folds are fitted in threads. liblinear draws from one process-wide random
    generator, so concurrent fits may converge to slightly different solutions (within its tolerance)
    from run to run; n_jobs=1 makes training bit-for-bit reproducible for a seed.
    """
    started = time.perf_counter()
    report = monotonic(progress or _ignore_progress)
    given = dict(params or {})
    given.setdefault("seed", seed)
    resolved = resolve_params(given)
    if cv_folds < 2:
        raise ValueError("cv_folds must be at least 2: the threshold is chosen from cross-validated predictions")
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be in [0, 1), got {holdout}")

    texts = [e.text for e in examples]
    labels = [e.label for e in examples]
    _check_classes(labels, minimum_per_class(cv_folds, resolved), holdout)
    fit_texts, fit_labels, held_texts, held_labels = texts, labels, [], []
    if holdout:
        fit_texts, held_texts, fit_labels, held_labels = train_test_split(
            texts, labels, test_size=holdout, stratify=labels, random_state=seed
        )
        _check_classes(fit_labels, minimum_per_class(cv_folds, resolved), 0.0)

    template = build_pipeline(**resolved)
    classes = sorted(set(fit_labels))
    tasks = cv_folds + 1
    report(f"fitting models 0/{tasks} (cv folds + final)", 0.0)

    def on_task(_kind: str, done: int, total: int) -> None:
        # The folds and the final fit share one pool and finish in any order: one count for all.
        report(f"fitting models {done}/{total} (cv folds + final)", FITTING_SHARE * done / total)

    oof, pipeline, fit_seconds = _fit_folds(
        template,
        fit_texts,
        fit_labels,
        classes,
        folds=cv_folds,
        seed=seed,
        n_jobs=n_jobs,
        fit_final=True,
        on_task=on_task,
    )
    assert pipeline is not None
    report("choosing the threshold", THRESHOLD_AT)
    threshold = choose_threshold(oof, fit_labels, classes=classes, target_accuracy=target_accuracy)

    report("evaluating", EVALUATE_AT)
    if holdout:
        metrics = evaluate(pipeline, held_texts, held_labels, threshold=threshold)
    else:
        metrics = evaluate_probabilities(oof, fit_labels, classes=classes, threshold=threshold)
    report("trained", 1.0)
    return TrainedModel(
        pipeline=pipeline,
        classes=[str(c) for c in pipeline.classes_],
        metrics=metrics,
        params=resolved,
        train_seconds=time.perf_counter() - started,
        fingerprint=fingerprint(examples),
        n_examples=len(fit_texts),
        evaluated_on="holdout" if holdout else "cv",
        fit_seconds=fit_seconds,
    )


def cross_validated_probabilities(
    examples: Sequence[Example],
    *,
    params: dict[str, Any] | None = None,
    cv_folds: int = 5,
    seed: int = 0,
    n_jobs: int = 2,
) -> tuple[NDArray[np.float64], list[str]]:
    """Out-of-fold probabilities for every example and their column order: what model selection compares."""
    given = dict(params or {})
    given.setdefault("seed", seed)
    texts = [e.text for e in examples]
    labels = [e.label for e in examples]
    classes = sorted(set(labels))
    probs, _, _ = _fit_folds(
        build_pipeline(**given), texts, labels, classes, folds=cv_folds, seed=seed, n_jobs=n_jobs, fit_final=False
    )
    return probs, classes


def _fit_folds(
    template: Pipeline,
    texts: list[str],
    labels: list[str],
    classes: list[str],
    *,
    folds: int,
    seed: int,
    n_jobs: int,
    fit_final: bool,
    on_task: Callable[[str, int, int], None] | None = None,
) -> tuple[NDArray[np.float64], Pipeline | None, float]:
    """Out-of-fold probabilities from `folds` clones of `template`, and, if asked, a clone fitted on everything.

    All fits share one pool, so the final fit does not wait for the folds to finish.
    """
    text_array = np.asarray(texts, dtype=object)
    label_array = np.asarray(labels, dtype=object)
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(text_array, label_array))

    def fold(train_index: NDArray[np.intp], test_index: NDArray[np.intp]) -> tuple[str, Any, Any]:
        model = clone(template).fit(list(text_array[train_index]), list(label_array[train_index]))
        columns = [classes.index(str(c)) for c in model.classes_]
        probs = np.zeros((len(test_index), len(classes)))
        probs[:, columns] = model.predict_proba(list(text_array[test_index]))
        return "fold", test_index, probs

    def final() -> tuple[str, Any, Any]:
        started = time.perf_counter()
        model = clone(template).fit(texts, labels)
        return "final", model, time.perf_counter() - started

    oof = np.zeros((len(texts), len(classes)))
    pipeline, fit_seconds = None, 0.0
    # Threads, not processes: liblinear releases the GIL while fitting, and nothing gets pickled.
    with ThreadPoolExecutor(max_workers=max(1, n_jobs)) as pool:
        # The final fit is the longest task: started first, it never runs alone at the end.
        futures = [pool.submit(final)] if fit_final else []
        futures += [pool.submit(fold, train_index, test_index) for train_index, test_index in splits]
        for done, future in enumerate(as_completed(futures), start=1):
            kind, first, second = future.result()
            if kind == "final":
                pipeline, fit_seconds = first, second
            else:
                oof[first] = second
            if on_task is not None:
                on_task(kind, done, len(futures))
    return oof, pipeline, fit_seconds


def _check_classes(labels: Sequence[str], minimum: int, holdout: float) -> None:
    counts = Counter(labels)
    if len(counts) < 2:
        raise DataError("training needs examples of at least two areas")
    needed = math.ceil(minimum / (1.0 - holdout)) if holdout else minimum
    small = sorted((n, label) for label, n in counts.items() if n < needed)
    if small:
        listed = ", ".join(f"{label!r} ({n})" for n, label in small[:10])
        more = f" and {len(small) - 10} more" if len(small) > 10 else ""
        raise DataError(f"each area needs at least {needed} labelled examples; too few: {listed}{more}")


def _ignore_progress(stage: str, fraction: float) -> None:
    return None
