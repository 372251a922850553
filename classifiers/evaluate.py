"""Routing quality figures: accuracy, per-area scores, calibration and the auto-routing threshold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

ECE_BINS = 10
DEFAULT_TARGET_ACCURACY = 0.97


@runtime_checkable
class ProbabilisticModel(Protocol):
    classes_: Any

    def predict_proba(self, texts: Any) -> Any: ...


def evaluate(
    model_or_probs: ProbabilisticModel | ArrayLike,
    texts: Sequence[str] | None,
    labels: Sequence[str],
    *,
    threshold: float,
    classes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Score a fitted pipeline on texts, or a probability matrix whose columns are `classes`."""
    if isinstance(model_or_probs, ProbabilisticModel):
        if texts is None:
            raise ValueError("evaluate() needs the texts to score a pipeline")
        probs = model_or_probs.predict_proba(list(texts))
        classes = [str(c) for c in model_or_probs.classes_]
    elif classes is None:
        raise ValueError("evaluate() needs classes= to read a probability matrix")
    else:
        probs = model_or_probs
    return evaluate_probabilities(probs, labels, classes=classes, threshold=threshold)


def evaluate_probabilities(
    probs: ArrayLike, labels: Sequence[str], *, classes: Sequence[str], threshold: float
) -> dict[str, Any]:
    p = _matrix(probs, classes, labels)
    y_true = np.asarray(labels, dtype=object)
    class_array = np.asarray(classes, dtype=object)
    top_index = p.argmax(axis=1)
    y_pred = class_array[top_index]
    top = p[np.arange(len(p)), top_index]
    correct = y_pred == y_true

    # Areas the model never saw still count: their tickets can only be misrouted.
    report_labels = list(classes) + sorted(set(labels) - set(classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=report_labels, zero_division=0.0
    )
    routed = top >= threshold
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0.0)),
        "per_class": {
            label: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(report_labels)
        },
        "confusion": {
            "labels": report_labels,
            "matrix": confusion_matrix(y_true, y_pred, labels=report_labels).tolist(),
        },
        "ece": expected_calibration_error(top, correct),
        "threshold": float(threshold),
        "auto_routed_share": float(routed.mean()),
        "auto_routed_accuracy": float(correct[routed].mean()) if routed.any() else None,
        "coverage_curve": coverage_curve(top, correct),
    }


def coverage_curve(confidence: ArrayLike, correct: ArrayLike, *, steps: int = 20) -> list[dict[str, Any]]:
    """At each threshold 0, 1/steps, ..., 1: the share of tickets whose top probability reaches it (routed
    automatically) and the accuracy of those (None where none does): what choosing a threshold trades."""
    conf = np.asarray(confidence, dtype=float)
    hit = np.asarray(correct, dtype=bool)
    curve = []
    for i in range(steps + 1):
        threshold = i / steps
        routed = conf >= threshold
        curve.append(
            {
                "threshold": threshold,
                "routed": float(routed.mean()) if len(conf) else 0.0,
                "accuracy": float(hit[routed].mean()) if routed.any() else None,
            }
        )
    return curve


def expected_calibration_error(confidence: ArrayLike, correct: ArrayLike, *, bins: int = ECE_BINS) -> float:
    """Mean gap between confidence and accuracy over equal-width bins (lo, hi], weighted by bin size."""
    conf = np.asarray(confidence, dtype=float)
    hit = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.digitize(conf, edges[1:-1], right=True)
    gap = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            gap += members.sum() * abs(hit[members].mean() - conf[members].mean())
    return float(gap / len(conf))


def choose_threshold(
    probs: ArrayLike,
    labels: Sequence[str],
    *,
    classes: Sequence[str],
    target_accuracy: float = DEFAULT_TARGET_ACCURACY,
) -> float:
    """The lowest top-class probability at which routed tickets are still right `target_accuracy` of the time.

    Meant for out-of-fold (cross-validated) probabilities on training data, never the test set.
    Returns 1.0 when no cut-off reaches the target, so that only certain predictions route.
    """
    p = _matrix(probs, classes, labels)
    top_index = p.argmax(axis=1)
    top = p[np.arange(len(p)), top_index]
    correct = np.asarray(classes, dtype=object)[top_index] == np.asarray(labels, dtype=object)

    order = np.argsort(-top, kind="stable")
    top, correct = top[order], correct[order]
    accuracy_above = np.cumsum(correct) / np.arange(1, len(top) + 1)
    # A cut-off between tied probabilities is not possible: judge each distinct value with all its ties.
    last_of_value = np.r_[top[1:] != top[:-1], True]
    reaching = np.flatnonzero(last_of_value & (accuracy_above >= target_accuracy))
    if reaching.size == 0:
        return 1.0
    return float(top[reaching[-1]])


def _matrix(probs: ArrayLike, classes: Sequence[str], labels: Sequence[str]) -> NDArray[np.float64]:
    p = np.asarray(probs, dtype=float)
    if p.ndim != 2 or p.shape[1] != len(classes):
        raise ValueError(f"expected a probability matrix with {len(classes)} columns, got shape {p.shape}")
    if p.shape[0] != len(labels):
        raise ValueError(f"{p.shape[0]} rows of probabilities for {len(labels)} labels")
    if p.shape[0] == 0:
        raise ValueError("nothing to evaluate: no examples")
    return p
