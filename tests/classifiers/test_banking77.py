from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from classifiers.data import Example, load_examples
from classifiers.evaluate import evaluate
from classifiers.train import train
from tests.classifiers.conftest import datasets_dir

BANKING77 = datasets_dir() / "banking77"
PER_INTENT = 20
INTENTS = 77

pytestmark = pytest.mark.skipif(not BANKING77.is_dir(), reason=f"dataset not found at {BANKING77}")


def first_per_label(examples: list[Example], n: int) -> list[Example]:
    kept: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        if len(kept[example.label]) < n:
            kept[example.label].append(example)
    return [e for group in kept.values() for e in group]


def load(split: str) -> list[Example]:
    return load_examples(Path(BANKING77 / f"{split}.csv"), label_col="category")


def test_banking77_loads_every_row_and_intent() -> None:
    examples = load("train")
    assert len(examples) == 10_003
    assert len({e.label for e in examples}) == INTENTS


def test_router_trained_on_a_banking77_subset_is_far_above_chance() -> None:
    subset = first_per_label(load("train"), PER_INTENT)
    model = train(subset, cv_folds=3)
    test = load("test")
    metrics = evaluate(model.pipeline, [e.text for e in test], [e.label for e in test], threshold=model.threshold)
    # Chance is 1/77 = 0.013; this subset scores about 0.80, the full training set about 0.91.
    assert metrics["macro_f1"] > 0.7
    assert model.metrics["macro_f1"] > 0.65
    assert metrics["ece"] < 0.1
