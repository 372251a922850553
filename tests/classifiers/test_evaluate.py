from __future__ import annotations

import numpy as np
import pytest

from classifiers.evaluate import choose_threshold, coverage_curve, evaluate, expected_calibration_error
from classifiers.train import TrainedModel

CLASSES = ["a", "b"]
# top probabilities 0.92 (right), 0.96 (wrong), 0.65 (right), 0.55 (wrong)
PROBS = [[0.92, 0.08], [0.04, 0.96], [0.35, 0.65], [0.55, 0.45]]
LABELS = ["a", "a", "b", "b"]


def test_evaluate_figures_match_a_hand_computed_case() -> None:
    metrics = evaluate(PROBS, None, LABELS, classes=CLASSES, threshold=0.6)
    assert metrics["accuracy"] == 0.5
    assert metrics["macro_f1"] == 0.5
    assert metrics["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert metrics["confusion"] == {"labels": ["a", "b"], "matrix": [[1, 1], [1, 1]]}
    # bins (0.9, 1]: conf 0.94, acc 0.5, two tickets; (0.6, 0.7]: 0.65 vs 1; (0.5, 0.6]: 0.55 vs 0
    assert metrics["ece"] == pytest.approx((2 * 0.44 + 0.35 + 0.55) / 4)
    assert metrics["threshold"] == 0.6
    assert metrics["auto_routed_share"] == 0.75
    assert metrics["auto_routed_accuracy"] == pytest.approx(2 / 3)


def test_evaluate_returns_exactly_the_documented_keys() -> None:
    metrics = evaluate(PROBS, None, LABELS, classes=CLASSES, threshold=0.5)
    assert set(metrics) == {
        "accuracy",
        "macro_f1",
        "per_class",
        "confusion",
        "ece",
        "threshold",
        "auto_routed_share",
        "auto_routed_accuracy",
        "coverage_curve",
    }


def test_the_coverage_curve_gives_the_share_routed_and_its_accuracy_at_each_threshold() -> None:
    # Top probabilities 0.9, 0.8, 0.6, 0.4; right, wrong, right, right.
    curve = coverage_curve([0.9, 0.8, 0.6, 0.4], [True, False, True, True], steps=4)
    assert [p["threshold"] for p in curve] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [p["routed"] for p in curve] == [1.0, 1.0, 0.75, 0.5, 0.0]
    assert [p["accuracy"] for p in curve] == [0.75, 0.75, pytest.approx(2 / 3), 0.5, None]


def test_nothing_auto_routed_gives_no_auto_routed_accuracy() -> None:
    metrics = evaluate(PROBS, None, LABELS, classes=CLASSES, threshold=0.99)
    assert metrics["auto_routed_share"] == 0.0
    assert metrics["auto_routed_accuracy"] is None


def test_labels_the_model_never_saw_count_as_misrouted() -> None:
    metrics = evaluate(PROBS, None, ["a", "a", "b", "new"], classes=CLASSES, threshold=0.5)
    assert metrics["per_class"]["new"]["recall"] == 0.0
    assert metrics["confusion"]["labels"] == ["a", "b", "new"]


def test_ece_is_zero_when_confidence_equals_accuracy() -> None:
    confidence = [0.75] * 4
    assert expected_calibration_error(confidence, [1, 1, 1, 0]) == pytest.approx(0.0)


def test_evaluate_on_a_pipeline_equals_evaluate_on_its_probabilities(trained: TrainedModel) -> None:
    texts = ["my payout is late", "refund the invoice", "password reset link"]
    labels = ["payouts", "billing", "login"]
    from_pipeline = evaluate(trained.pipeline, texts, labels, threshold=0.5)
    from_probs = evaluate(trained.pipeline.predict_proba(texts), None, labels, classes=trained.classes, threshold=0.5)
    assert from_pipeline == from_probs


def test_choose_threshold_picks_lowest_cut_reaching_target_accuracy() -> None:
    # sorted tops: 0.9 right, 0.8 right, 0.7 wrong, 0.6 right, 0.5 wrong
    tops = [0.9, 0.8, 0.7, 0.6, 0.5]
    right = [True, True, False, True, False]
    probs = [[t, 1 - t] for t in tops]
    labels = ["a" if r else "b" for r in right]
    assert choose_threshold(probs, labels, classes=CLASSES, target_accuracy=0.75) == 0.6  # 3 of 4
    assert choose_threshold(probs, labels, classes=CLASSES, target_accuracy=0.9) == 0.8
    assert choose_threshold(probs, labels, classes=CLASSES, target_accuracy=0.5) == 0.5


def test_choose_threshold_keeps_tied_probabilities_together() -> None:
    probs = [[0.9, 0.1], [0.7, 0.3], [0.7, 0.3]]
    labels = ["a", "a", "b"]  # at 0.7 both tickets route: 2 of 3 right
    assert choose_threshold(probs, labels, classes=CLASSES, target_accuracy=0.8) == 0.9


def test_choose_threshold_routes_nothing_when_target_is_unreachable() -> None:
    probs = np.array([[0.9, 0.1], [0.8, 0.2]])
    assert choose_threshold(probs, ["b", "b"], classes=CLASSES, target_accuracy=0.97) == 1.0


def test_probability_matrix_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="2 columns"):
        evaluate([[1.0, 0.0, 0.0]], None, ["a"], classes=CLASSES, threshold=0.5)
