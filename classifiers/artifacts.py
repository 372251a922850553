"""Model artifacts: model.skops plus metadata.json, loaded without pickle and only if they check out.

A model directory is data an admin may have copied from anywhere, so loading verifies, in order:
the metadata is ours, the sha256 of model.skops matches it, the scikit-learn major.minor matches the
one that trained it, and every type in the file is on ALLOWED_TYPES below. Only then does skops build
objects, trusting exactly the types that passed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import secrets
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy
import scipy
import sklearn
import skops
import skops.io
from sklearn.pipeline import Pipeline

from classifiers.errors import ArtifactError
from classifiers.train import TrainedModel

FORMAT_VERSION = 1
MODEL_FILE = "model.skops"
METADATA_FILE = "metadata.json"

# Every type a pipeline from build_pipeline() may contain, as "module.name" in the skops schema.
# Anything else (a FunctionTransformer's function, an estimator we did not build) is refused at
# save and at load, whether or not skops would trust it by default.
ALLOWED_TYPES = frozenset(
    {
        "builtins.bool",
        "builtins.dict",
        "builtins.float",
        "builtins.int",
        "builtins.list",
        "builtins.NoneType",
        "builtins.str",
        "builtins.tuple",
        "classifiers.features.ArrayVocabTfidfVectorizer",
        "numpy.dtype",
        "numpy.float32",
        "numpy.float64",
        "numpy.int32",
        "numpy.int64",
        "numpy.ndarray",
        "numpy.random.mtrand.RandomState",
        "scipy.sparse._csr.csr_matrix",
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.calibration._TemperatureScaling",
        "sklearn.feature_extraction.text.TfidfTransformer",
        "sklearn.feature_extraction.text.TfidfVectorizer",
        "sklearn.isotonic.IsotonicRegression",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._stochastic_gradient.SGDClassifier",
        "sklearn.pipeline.FeatureUnion",
        "sklearn.pipeline.Pipeline",
        "sklearn.svm._classes.LinearSVC",
    }
)


@dataclass(frozen=True, slots=True)
class Metadata:
    format_version: int
    version: str
    created_at: str
    classes: list[str]
    metrics: dict[str, Any]
    evaluated_on: str
    params: dict[str, Any]
    threshold: float
    data_fingerprint: str
    n_examples: int
    train_seconds: float
    libraries: dict[str, str]
    trusted_types: list[str]
    sha256: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@dataclass(frozen=True, slots=True)
class LoadedModel:
    pipeline: Pipeline
    metadata: Metadata


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "skops": skops.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
    }


def new_version() -> str:
    """A sortable, unique version name: UTC time plus a few random characters."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def save_model(model: TrainedModel, directory: Path, *, version: str | None = None) -> Metadata:
    """Write model.skops and metadata.json into `directory` (created if missing, must not hold a model)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / MODEL_FILE).exists() or (directory / METADATA_FILE).exists():
        raise ArtifactError(f"{directory} already holds a model; versions are written once")

    data = skops.io.dumps(model.pipeline)
    types = schema_types(data)
    outside = sorted(types - ALLOWED_TYPES)
    if outside:
        raise ArtifactError(f"refusing to save: the pipeline holds types outside the allow-list: {outside}")

    metadata = Metadata(
        format_version=FORMAT_VERSION,
        version=version or new_version(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        classes=list(model.classes),
        metrics=model.metrics,
        evaluated_on=model.evaluated_on,
        params=model.params,
        threshold=float(model.threshold),
        data_fingerprint=model.fingerprint,
        n_examples=model.n_examples,
        train_seconds=round(model.train_seconds, 3),
        libraries=library_versions(),
        trusted_types=sorted(skops.io.get_untrusted_types(data=data)),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    _write_atomically(directory / MODEL_FILE, data)
    # metadata.json last: a directory with metadata is a complete artifact.
    _write_atomically(directory / METADATA_FILE, metadata.to_json().encode("utf-8"))
    return metadata


def load_model(directory: Path) -> LoadedModel:
    directory = Path(directory)
    metadata = read_metadata(directory)
    try:
        data = (directory / MODEL_FILE).read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{directory}: {MODEL_FILE} is missing") from None

    actual = hashlib.sha256(data).hexdigest()
    if actual != metadata.sha256:
        raise ArtifactError(
            f"checksum mismatch for {directory / MODEL_FILE}: "
            f"metadata.json says {metadata.sha256}, the file hashes to {actual}"
        )
    check_sklearn_version(metadata)

    types = schema_types(data)
    outside = sorted(types - ALLOWED_TYPES)
    if outside:
        raise ArtifactError(f"{directory / MODEL_FILE} holds types outside the allow-list: {outside}")
    recorded = set(metadata.trusted_types)
    if not recorded <= ALLOWED_TYPES:
        raise ArtifactError(
            f"{directory / METADATA_FILE} asks to trust types outside the allow-list: "
            f"{sorted(recorded - ALLOWED_TYPES)}"
        )
    untrusted = set(skops.io.get_untrusted_types(data=data))
    if not untrusted <= recorded:
        raise ArtifactError(
            f"{directory / MODEL_FILE} needs types that were not recorded when it was saved: "
            f"{sorted(untrusted - recorded)}"
        )
    try:
        pipeline = skops.io.loads(data, trusted=sorted(recorded))
    except Exception as exc:  # skops raises a variety of errors on a file it cannot rebuild
        raise ArtifactError(f"{directory / MODEL_FILE} could not be loaded: {exc}") from exc
    if not isinstance(pipeline, Pipeline) or not hasattr(pipeline, "predict_proba"):
        raise ArtifactError(f"{directory / MODEL_FILE} is not a classification pipeline")
    if [str(c) for c in pipeline.classes_] != metadata.classes:
        raise ArtifactError(f"{directory}: the model's classes differ from metadata.json")
    return LoadedModel(pipeline=pipeline, metadata=metadata)


def read_metadata(directory: Path) -> Metadata:
    path = Path(directory) / METADATA_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{directory}: {METADATA_FILE} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format_version") != FORMAT_VERSION:
        found = raw.get("format_version") if isinstance(raw, dict) else None
        raise ArtifactError(f"{path}: unsupported format_version {found!r} (this code reads {FORMAT_VERSION})")
    try:
        return Metadata(**raw)
    except TypeError as exc:
        raise ArtifactError(f"{path}: unexpected fields: {exc}") from None


def check_sklearn_version(metadata: Metadata) -> None:
    # A pipeline is only known to behave the same under the scikit-learn release that fitted it;
    # patch releases keep estimators compatible, minor releases do not promise to.
    trained = _major_minor(str(metadata.libraries.get("sklearn", "")))
    running = _major_minor(sklearn.__version__)
    if trained is None or trained != running:
        raise ArtifactError(
            f"model {metadata.version} was trained with scikit-learn {metadata.libraries.get('sklearn')!r}, "
            f"this process runs {sklearn.__version__}; retrain the model or install scikit-learn "
            f"{'.'.join(map(str, trained)) if trained else '(unknown)'}.x"
        )


def _major_minor(version: str) -> tuple[int, int] | None:
    match = re.match(r"(\d+)\.(\d+)", version)
    return (int(match[1]), int(match[2])) if match else None


def schema_types(data: bytes) -> set[str]:
    """Every "module.name" a skops file would create or reference, read from its schema alone."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"not a skops file: {exc}") from None
    types = set(_schema_nodes(schema))
    if not types:
        raise ArtifactError("not a skops file: its schema names no types")
    return types


def _schema_nodes(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        if "__class__" in node or "__module__" in node:
            yield f"{node.get('__module__')}.{node.get('__class__')}"
        for value in node.values():
            yield from _schema_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schema_nodes(value)


def _write_atomically(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
