from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sklearn
import skops.io
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from classifiers.artifacts import (
    METADATA_FILE,
    MODEL_FILE,
    load_model,
    read_metadata,
    save_model,
)
from classifiers.data import Example
from classifiers.errors import ArtifactError
from classifiers.train import TrainedModel, build_pipeline

TEXTS = ["my payout is late", "refund the invoice", "password reset link", "something else entirely"]


def test_round_trip_gives_identical_probabilities(trained: TrainedModel, tmp_path: Path) -> None:
    save_model(trained, tmp_path / "v1", version="v1")
    loaded = load_model(tmp_path / "v1")
    assert np.array_equal(loaded.pipeline.predict_proba(TEXTS), trained.pipeline.predict_proba(TEXTS))


def test_a_vocabulary_is_stored_as_one_array_and_loads_back_as_the_same_dict(
    trained: TrainedModel, tmp_path: Path
) -> None:
    # A node per term made the demo's artifact 68 MB of JSON, ~260 MB to save and ~200 MB to load.
    save_model(trained, tmp_path / "v1", version="v1")
    with zipfile.ZipFile(tmp_path / "v1" / MODEL_FILE) as archive:
        schema = json.loads(archive.read("schema.json"))
    vectorizers = list(_nodes_of(schema, "ArrayVocabTfidfVectorizer"))
    assert len(vectorizers) == 2
    assert all(v["content"]["content"]["vocabulary_"]["__class__"] == "ndarray" for v in vectorizers)
    loaded = load_model(tmp_path / "v1").pipeline.named_steps["features"].transformer_list
    fitted = trained.pipeline.named_steps["features"].transformer_list
    for (_, mine), (_, theirs) in zip(loaded, fitted, strict=True):
        assert type(mine.vocabulary_) is dict and mine.vocabulary_ == theirs.vocabulary_
    assert trained.pipeline.named_steps["features"].transformer_list[0][1].vocabulary_  # the model kept its own


def _nodes_of(node: object, class_name: str) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("__class__") == class_name:
            yield node
        for value in node.values():
            yield from _nodes_of(value, class_name)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes_of(value, class_name)


def test_metadata_records_what_trained_the_model(trained: TrainedModel, tmp_path: Path) -> None:
    saved = save_model(trained, tmp_path / "v1")
    raw = json.loads((tmp_path / "v1" / METADATA_FILE).read_text())
    assert raw["sha256"] == hashlib.sha256((tmp_path / "v1" / MODEL_FILE).read_bytes()).hexdigest()
    assert raw["classes"] == ["billing", "login", "payouts"]
    assert raw["data_fingerprint"] == trained.fingerprint
    assert raw["threshold"] == trained.metrics["threshold"] == raw["metrics"]["threshold"]
    assert set(raw["libraries"]) == {"python", "sklearn", "skops", "numpy", "scipy"}
    assert raw["created_at"].endswith("+00:00")
    assert raw["version"] == saved.version and saved.version
    assert read_metadata(tmp_path / "v1") == saved


def test_tampered_model_file_is_refused(trained: TrainedModel, tmp_path: Path) -> None:
    save_model(trained, tmp_path / "v1")
    model_file = tmp_path / "v1" / MODEL_FILE
    data = bytearray(model_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model_file.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_model(tmp_path / "v1")


def test_model_from_another_sklearn_minor_version_is_refused(trained: TrainedModel, tmp_path: Path) -> None:
    save_model(trained, tmp_path / "v1")
    path = tmp_path / "v1" / METADATA_FILE
    raw = json.loads(path.read_text())
    major, minor = sklearn.__version__.split(".")[:2]
    raw["libraries"]["sklearn"] = f"{major}.{int(minor) - 1}.0"
    path.write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match=rf"trained with scikit-learn '{major}\.{int(minor) - 1}\.0'"):
        load_model(tmp_path / "v1")


def test_model_from_another_sklearn_patch_release_loads(trained: TrainedModel, tmp_path: Path) -> None:
    save_model(trained, tmp_path / "v1")
    path = tmp_path / "v1" / METADATA_FILE
    raw = json.loads(path.read_text())
    major, minor = sklearn.__version__.split(".")[:2]
    raw["libraries"]["sklearn"] = f"{major}.{minor}.99"
    path.write_text(json.dumps(raw))
    assert load_model(tmp_path / "v1").metadata.libraries["sklearn"].endswith(".99")


def _custom_step(texts: list[str]) -> list[str]:
    return [t.lower() for t in texts]


def _write_foreign_artifact(trained: TrainedModel, directory: Path, pipeline: Pipeline) -> None:
    # What an attacker or a careless script could leave: a well-formed artifact around a foreign pipeline.
    save_model(trained, directory)
    data = skops.io.dumps(pipeline)
    (directory / MODEL_FILE).write_bytes(data)
    raw = json.loads((directory / METADATA_FILE).read_text())
    raw["sha256"] = hashlib.sha256(data).hexdigest()
    (directory / METADATA_FILE).write_text(json.dumps(raw))


def test_model_with_a_function_outside_the_allow_list_is_refused(
    trained: TrainedModel, examples: list[Example], tmp_path: Path
) -> None:
    foreign = Pipeline(
        [
            ("lower", FunctionTransformer(_custom_step)),
            ("tfidf", TfidfVectorizer()),
            ("lr", LogisticRegression()),
        ]
    ).fit([e.text for e in examples], [e.label for e in examples])
    _write_foreign_artifact(trained, tmp_path / "v1", foreign)
    with pytest.raises(ArtifactError, match=r"outside the allow-list: \[.*_custom_step"):
        load_model(tmp_path / "v1")


def test_model_with_a_type_skops_trusts_but_we_do_not_is_refused(
    trained: TrainedModel, examples: list[Example], tmp_path: Path
) -> None:
    # skops trusts numpy functions by default; our allow-list names neither them nor FunctionTransformer.
    foreign = Pipeline(
        [
            ("tfidf", TfidfVectorizer()),
            ("log", FunctionTransformer(np.log1p, accept_sparse=True)),
            ("lr", LogisticRegression()),
        ]
    ).fit([e.text for e in examples], [e.label for e in examples])
    _write_foreign_artifact(trained, tmp_path / "v1", foreign)
    with pytest.raises(ArtifactError, match=r"outside the allow-list: \['numpy.log1p', .*FunctionTransformer"):
        load_model(tmp_path / "v1")


def test_saving_a_pipeline_outside_the_allow_list_is_refused(
    trained: TrainedModel, examples: list[Example], tmp_path: Path
) -> None:
    foreign = Pipeline([("lower", FunctionTransformer(_custom_step)), ("rest", build_pipeline())])
    foreign.fit([e.text for e in examples], [e.label for e in examples])
    with pytest.raises(ArtifactError, match="refusing to save"):
        save_model(dataclasses.replace(trained, pipeline=foreign), tmp_path / "v1")
    assert not (tmp_path / "v1" / MODEL_FILE).exists()


def test_directory_without_metadata_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=f"{METADATA_FILE} is missing"):
        load_model(tmp_path)


def test_saving_over_an_existing_model_is_refused(trained: TrainedModel, tmp_path: Path) -> None:
    save_model(trained, tmp_path / "v1")
    with pytest.raises(ArtifactError, match="already holds a model"):
        save_model(trained, tmp_path / "v1")


def test_metadata_asking_to_trust_a_type_outside_the_allow_list_is_refused(
    trained: TrainedModel, tmp_path: Path
) -> None:
    save_model(trained, tmp_path / "v1")
    path = tmp_path / "v1" / METADATA_FILE
    raw = json.loads(path.read_text())
    raw["trusted_types"].append("builtins.eval")
    path.write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match=r"trust types outside the allow-list: \['builtins.eval'\]"):
        load_model(tmp_path / "v1")
