from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from classifiers.data import Example
from classifiers.predict import BULK_FROM, predict, predict_proba
from classifiers.train import TrainedModel, build_pipeline

# Unknown words, an empty message, accents, emoji and a long text: the cases where hand-built
# TF-IDF rows could drift from scikit-learn's (empty rows, unseen n-grams, normalisation).
TEXTS = [
    "My payout is late",
    "",
    "zzzz qqqq",
    "Rückerstattung für die Rechnung, s'il vous plaît 🙂",
    "refund " * 200,
    "PASSWORD reset link never arrived!!!",
]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"calibration_ensemble": True, "C": 2.0},
        {"model": "sgd"},
        {"calibration": "sigmoid", "min_df": 2},
        {"word_weight": 0.5, "char_analyzer": "char", "char_ngram": [1, 4]},
        {"word_ngram": None},
        {"model": "logistic", "calibration": "none"},
    ],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()) or "defaults",
)
def test_fast_probabilities_equal_the_pipeline_probabilities(examples: list[Example], params: dict[str, Any]) -> None:
    pipeline = build_pipeline(**params).fit([e.text for e in examples], [e.label for e in examples])
    few, many = TEXTS, [e.text for e in examples] + TEXTS  # per-text counting, then the bulk path
    assert len(few) < BULK_FROM <= len(many)
    for texts in (few, many):
        assert np.allclose(predict_proba(pipeline, texts), pipeline.predict_proba(texts), rtol=1e-12, atol=1e-14)


def test_single_message_probabilities_equal_the_batch_ones(trained: TrainedModel) -> None:
    batch = predict_proba(trained.pipeline, TEXTS)
    one_by_one = np.vstack([predict_proba(trained.pipeline, [text]) for text in TEXTS])
    assert np.allclose(batch, one_by_one, rtol=1e-12, atol=1e-14)


def test_default_pipeline_is_scored_without_scikit_learn_per_call_path(
    trained: TrainedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = trained.pipeline.predict_proba(TEXTS)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the slow path was taken")

    for step in (trained.pipeline, *trained.pipeline.named_steps.values()):
        monkeypatch.setattr(step, "predict_proba" if hasattr(step, "predict_proba") else "transform", refuse)
    assert np.allclose(predict_proba(trained.pipeline, TEXTS), expected, rtol=1e-12, atol=1e-14)


def test_pipeline_of_another_shape_is_scored_by_scikit_learn(examples: list[Example]) -> None:
    pipeline = Pipeline([("tfidf", TfidfVectorizer()), ("lr", LogisticRegression())])
    pipeline.fit([e.text for e in examples], [e.label for e in examples])
    assert np.array_equal(predict_proba(pipeline, TEXTS), pipeline.predict_proba(TEXTS))


def test_predicting_no_texts_gives_no_predictions(trained: TrainedModel) -> None:
    assert predict(trained.pipeline, []) == []


def test_scores_that_look_like_probabilities_are_scored_as_scikit_learn_scores_them(examples: list[Example]) -> None:
    from classifiers.compact import compile_pipeline

    pipeline = build_pipeline().fit([e.text for e in examples], [e.label for e in examples])
    n_classes = len(pipeline.classes_)
    # Every member's decision scores are the same probability-like row: scikit-learn then takes their
    # logs before the temperature; the compact form must too, for it has no pipeline to fall back on.
    for member in pipeline.steps[1][1].calibrated_classifiers_:
        member.estimator.coef_ = np.zeros_like(member.estimator.coef_)
        member.estimator.intercept_ = np.arange(1.0, n_classes + 1) / (n_classes * (n_classes + 1) / 2)
    compact = compile_pipeline(pipeline, artifact_sha256="0" * 64)
    assert compact is not None
    expected = pipeline.predict_proba(TEXTS)
    assert np.allclose(compact.predict_proba(TEXTS), expected, rtol=1e-12, atol=1e-14)
    assert np.allclose(predict_proba(pipeline, TEXTS), expected, rtol=1e-12, atol=1e-14)
