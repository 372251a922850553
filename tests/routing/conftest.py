"""One trained model for every routing test process: the tests only read it (they register and activate
copies of its bytes), so it is fitted once per session, not once per module."""

from __future__ import annotations

import pytest

from app.routing import training
from classifiers.train import TrainedModel
from tests.routing.test_routing import examples


@pytest.fixture(scope="session")
def trained() -> TrainedModel:
    return training.fit(examples())
