from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from classifiers.data import DataError, Example
from classifiers.train import DEFAULT_PARAMS, TrainedModel, build_pipeline, predict, train
from tests.classifiers.conftest import synthetic_examples


def test_trained_model_routes_new_tickets_to_their_area(trained: TrainedModel) -> None:
    texts = [
        "The refund on my invoice is wrong",
        "My bank transfer payout is late",
        "I am locked out, password?",
    ]
    assert [p.label for p in predict(trained.pipeline, texts)] == ["billing", "payouts", "login"]


def test_prediction_ranks_areas_by_probability(trained: TrainedModel) -> None:
    (prediction,) = predict(trained.pipeline, ["Please send the VAT receipt"], top_k=3)
    probabilities = [p for _, p in prediction.top]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0)
    assert (prediction.label, prediction.probability) == prediction.top[0]


def test_cross_validated_metrics_describe_separable_areas(trained: TrainedModel) -> None:
    assert trained.evaluated_on == "cv"
    assert trained.metrics["accuracy"] == 1.0
    assert sum(c["support"] for c in trained.metrics["per_class"].values()) == len(synthetic_examples())
    assert trained.classes == ["billing", "login", "payouts"]
    assert 0.0 < trained.threshold <= 1.0


def test_holdout_metrics_count_only_held_out_tickets(examples: list[Example]) -> None:
    model = train(examples, cv_folds=3, holdout=0.2)
    assert model.evaluated_on == "holdout"
    assert sum(c["support"] for c in model.metrics["per_class"].values()) == 18
    assert model.n_examples == len(examples) - 18


def test_progress_reports_each_stage_and_ends_at_one(examples: list[Example]) -> None:
    seen: list[tuple[str, float]] = []
    train(examples, cv_folds=3, progress=lambda stage, fraction: seen.append((stage, fraction)))
    fractions = [fraction for _, fraction in seen]
    assert fractions == sorted(fractions)
    assert seen[-1] == ("trained", 1.0)
    stages = [stage for stage, _ in seen]
    assert stages[0] == "fitting models 0/4 (cv folds + final)"
    assert [s for s in stages if s.startswith("fitting")][-1] == "fitting models 4/4 (cv folds + final)"
    assert stages[-3:] == ["choosing the threshold", "evaluating", "trained"]


def test_progress_is_one_bar_that_never_goes_back_whichever_fit_finishes_first(examples: list[Example]) -> None:
    # Two threads: the final fit and the folds finish in any order; the bar still only moves forward.
    seen: list[float] = []
    train(examples, cv_folds=5, n_jobs=2, progress=lambda _stage, fraction: seen.append(fraction))
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == 1.0
    assert len(set(seen)) == len(seen) == 10  # the start, six fits, threshold, evaluation, trained


def test_single_threaded_training_is_reproducible_for_a_seed(examples: list[Example]) -> None:
    first = train(examples, cv_folds=3, seed=7, n_jobs=1)
    second = train(examples, cv_folds=3, seed=7, n_jobs=1)
    texts = ["refund please", "payout missing"]
    assert np.array_equal(first.pipeline.predict_proba(texts), second.pipeline.predict_proba(texts))
    assert first.metrics == second.metrics


def test_area_with_too_few_examples_is_refused_by_name(examples: list[Example]) -> None:
    few = [*examples, Example("chargeback dispute", "disputes"), Example("dispute lost", "disputes")]
    with pytest.raises(DataError, match=r"at least 5 labelled examples; too few: 'disputes' \(2\)"):
        train(few, cv_folds=5)


def test_unknown_training_parameter_is_refused(examples: list[Example]) -> None:
    with pytest.raises(ValueError, match=r"unknown training parameters \['ngram'\]"):
        train(examples, params={"ngram": [1, 3]})


@pytest.mark.parametrize(
    "params",
    [
        {"calibration": "sigmoid"},
        {"calibration": "isotonic"},
        {"calibration": "temperature"},
        {"model": "logistic", "calibration": "none", "C": 10.0},
        {"model": "sgd", "calibration": "none"},
        {"word_ngram": None},
        {"char_ngram": None},
    ],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()),
)
def test_every_pipeline_variant_gives_probabilities(examples: list[Example], params: dict[str, Any]) -> None:
    pipeline = build_pipeline(**params).fit([e.text for e in examples], [e.label for e in examples])
    probs = pipeline.predict_proba(["payout late", "invoice refund"])
    assert probs.shape == (2, 3)
    assert np.allclose(probs.sum(axis=1), 1.0)


def test_defaults_are_json_friendly() -> None:
    assert all(not isinstance(v, tuple) for v in DEFAULT_PARAMS.values())
