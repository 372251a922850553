"""Scoring tickets with a fitted routing pipeline, fast enough for one message at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.pipeline import FeatureUnion, Pipeline

from classifiers.compact import calibrated_mean, term_counts, weigh_counts
from classifiers.features import ArrayVocabTfidfVectorizer

# Below this many texts, counting terms in a dict per text beats building one big sparse matrix.
BULK_FROM = 32

try:
    from sklearn.calibration import _TemperatureScaling
except ImportError:  # another scikit-learn: the classifier shortcut is off, the features one stays
    _TemperatureScaling = None


@dataclass(frozen=True, slots=True)
class Prediction:
    label: str
    probability: float
    top: list[tuple[str, float]]


def predict(pipeline: Pipeline, texts: Sequence[str], *, top_k: int = 3) -> list[Prediction]:
    """The most likely area of each text, its probability, and the `top_k` areas best first."""
    probs = predict_proba(pipeline, texts)
    classes = [str(c) for c in pipeline.classes_]
    k = min(top_k, len(classes))
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    predictions = []
    for row, ranked in zip(probs, order, strict=True):
        top = [(classes[i], float(row[i])) for i in ranked]
        predictions.append(Prediction(label=top[0][0], probability=top[0][1], top=top))
    return predictions


def predict_proba(pipeline: Pipeline, texts: Sequence[str]) -> NDArray[np.float64]:
    """pipeline.predict_proba(texts), computed without scikit-learn's per-call overhead where possible.

    Input validation, dataframe detection and joblib dispatch cost 3-4 ms of CPU a call, several times
    the arithmetic for one short message. So for the shapes build_pipeline() makes, the TF-IDF rows are
    built from the vectorizers' public attributes, and a temperature-calibrated linear model is
    applied as its formula, softmax(beta * (x @ coef.T + intercept)). Anything else, and any case
    the formula would not reproduce, goes through scikit-learn. Tests hold both paths equal; a model
    only ever runs under the scikit-learn minor version that trained it (see artifacts.py).
    """
    texts = list(texts)
    if not texts:
        return np.zeros((0, len(pipeline.classes_)))
    steps = pipeline.steps
    union = steps[0][1] if len(steps) == 2 else None
    if isinstance(union, FeatureUnion) and all(_reproducible(v) for _, v in union.transformer_list):
        features = _tfidf_features(union, texts)
        classifier = steps[1][1]
        proba = _temperature_scaled_linear(classifier, features)
        return proba if proba is not None else np.asarray(classifier.predict_proba(features), dtype=float)
    return np.asarray(pipeline.predict_proba(texts), dtype=float)


def _temperature_scaled_linear(classifier: Any, features: sp.csr_matrix) -> NDArray[np.float64] | None:
    """CalibratedClassifierCV(method="temperature").predict_proba over a multi-class linear model, or None."""
    members = linear_members(classifier)
    if members is None:
        return None
    scores = ((np.asarray(features @ coef.T) + intercept, beta) for coef, intercept, beta in members)
    return calibrated_mean(scores, features.shape[0], len(classifier.classes_))


def linear_members(classifier: Any) -> list[tuple[Any, Any, float]] | None:
    """(coef, intercept, beta) of each member of a CalibratedClassifierCV(method="temperature") over
    a multi-class linear model, or None for any other classifier."""
    if _TemperatureScaling is None or type(classifier) is not CalibratedClassifierCV:
        return None
    classes = list(classifier.classes_)
    members = []
    for member in classifier.calibrated_classifiers_:
        estimator, calibrators = member.estimator, member.calibrators
        if (
            member.method != "temperature"
            or len(calibrators) != 1
            or type(calibrators[0]) is not _TemperatureScaling
            or type(estimator).decision_function is not LinearClassifierMixin.decision_function
            or len(classes) < 3
            # CalibratedClassifierCV fits its estimator on label-encoded targets: columns follow classes_.
            or list(estimator.classes_) not in (list(range(len(classes))), classes)
        ):
            return None
        members.append((estimator.coef_, estimator.intercept_, float(calibrators[0].beta_)))
    return members or None


def reproducible_union(union: Any) -> list[tuple[str, TfidfVectorizer]] | None:
    """The (name, vectorizer) parts of a FeatureUnion whose TF-IDF rows _tfidf_features reproduces."""
    if not isinstance(union, FeatureUnion) or not all(_reproducible(v) for _, v in union.transformer_list):
        return None
    return list(union.transformer_list)


def _reproducible(vectorizer: Any) -> bool:
    return (
        # Exact types: a subclass could transform differently; ours only changes how it is stored.
        type(vectorizer) in (TfidfVectorizer, ArrayVocabTfidfVectorizer)
        and vectorizer.norm in ("l2", None)
        and not vectorizer.binary
        and vectorizer.dtype in (np.float64, "float64")
        and vectorizer.input == "content"
        and hasattr(vectorizer, "vocabulary_")
    )


def _tfidf_features(union: FeatureUnion, texts: list[str]) -> sp.csr_matrix:
    weights = union.transformer_weights or {}
    blocks = []
    for name, vectorizer in union.transformer_list:
        block = _tfidf(vectorizer, texts)
        weight = weights.get(name)
        if weight is not None:
            block.data *= weight
        blocks.append(block)
    return sp.hstack(blocks, format="csr")


def _tfidf(vectorizer: TfidfVectorizer, texts: list[str]) -> sp.csr_matrix:
    counts = _term_counts(vectorizer, texts) if len(texts) >= BULK_FROM else _few_term_counts(vectorizer, texts)
    weigh_counts(vectorizer, counts, len(texts))
    return counts


def _few_term_counts(vectorizer: TfidfVectorizer, texts: list[str]) -> sp.csr_matrix:
    rows = term_counts(vectorizer, texts)  # a dict per text, columns ascending
    return sp.csr_matrix((rows.data, rows.indices, rows.indptr), shape=(len(texts), len(vectorizer.vocabulary_)))


def _term_counts(vectorizer: TfidfVectorizer, texts: list[str]) -> sp.csr_matrix:
    analyze = vectorizer.build_analyzer()
    terms: list[str] = []
    lengths = np.empty(len(texts), dtype=np.int64)
    for i, text in enumerate(texts):
        analysed = analyze(text)
        terms.extend(analysed)
        lengths[i] = len(analysed)
    # One C-level pass over every term of the batch instead of a Python loop per term.
    columns = np.fromiter(map(vectorizer.vocabulary_.get, terms, repeat(-1)), dtype=np.int64, count=len(terms))
    rows = np.repeat(np.arange(len(texts)), lengths)
    known = columns >= 0
    matrix = sp.csr_matrix(
        (np.ones(int(known.sum())), (rows[known], columns[known])),
        shape=(len(texts), len(vectorizer.vocabulary_)),
    )
    matrix.sum_duplicates()
    return matrix
