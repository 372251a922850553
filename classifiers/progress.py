"""Training's progress bar, apart from train.py so that a caller reports progress without importing scikit-learn."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, float], None]


def monotonic(report: Progress, start: float = 0.0, end: float = 1.0) -> Progress:
    """`report` as one bar: a stage's fraction (0 to 1) is placed in [start, end] of the bar, and
    the bar never moves back, whichever stage reports."""
    shown = start

    def show(stage: str, fraction: float) -> None:
        nonlocal shown
        shown = max(shown, start + (end - start) * min(max(fraction, 0.0), 1.0))
        report(stage, shown)

    return show
