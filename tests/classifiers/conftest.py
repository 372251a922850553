from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from classifiers.data import Example
from classifiers.train import TrainedModel, train

REPO = Path(__file__).resolve().parents[2]

# Three product areas of a payments platform, each with its own vocabulary, so that a working
# router separates them perfectly and a broken one does not.
AREAS = {
    "billing": (
        ["invoice", "refund", "charged twice", "subscription fee", "VAT receipt", "billing statement"],
        [
            "Why was I {} this month?",
            "Please send the {} for March",
            "I need help with a {}",
            "There is a problem with my {}",
            "Can you explain the {} on my account",
        ],
    ),
    "payouts": (
        ["payout", "bank transfer", "settlement", "IBAN", "withdrawal to my bank", "payout schedule"],
        [
            "My {} has not arrived",
            "When will the {} reach me",
            "The {} failed again",
            "How do I change the {}",
            "Where is my {} from Friday",
        ],
    ),
    "login": (
        ["password", "two-factor code", "login", "locked account", "reset link", "sign-in email"],
        [
            "I cannot get the {} to work",
            "My {} keeps failing",
            "Help, the {} is not accepted",
            "I never received the {}",
            "How do I recover my {}",
        ],
    ),
}


def synthetic_examples(per_area: int = 30, seed: int = 1) -> list[Example]:
    rng = random.Random(seed)
    examples = []
    for area, (topics, templates) in AREAS.items():
        for _ in range(per_area):
            text = rng.choice(templates).format(rng.choice(topics))
            examples.append(Example(text=f"{text} (ticket {rng.randint(100, 999)})", label=area))
    rng.shuffle(examples)
    return examples


@pytest.fixture(scope="session")
def examples() -> list[Example]:
    return synthetic_examples()


@pytest.fixture(scope="session")
def trained(examples: list[Example]) -> TrainedModel:
    return train(examples, cv_folds=3)


def datasets_dir() -> Path:
    return Path(os.environ.get("ROUTEDESK_DATASETS") or REPO.parent / "shared" / "datasets")
