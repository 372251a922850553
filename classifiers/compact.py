"""A fitted routing pipeline as plain arrays: what routing needs, and nothing that needs scikit-learn.

A worker that routes mail with the model from a skops artifact holds scikit-learn (~115 MB once
imported) and pays ~220 MB at load for the artifact's JSON schema, where skops keeps every vocabulary
entry as a node of its own (66 MB of JSON for the demo's 81,000 n-grams). The same model as
`CompactModel` is its vocabularies (terms in column order, one UTF-8 string), idf vectors, linear
coefficients and temperatures: a few MB in an npz file, read and scored with NumPy alone (never a
pickle, nor SciPy).

It is built from a pipeline that passed every artifact check (`compile_pipeline`, which imports
scikit-learn), only for the shape build_pipeline() makes and predict.py reproduces (TF-IDF
vectorizers in a FeatureUnion, a temperature-calibrated linear classifier); anything else has no
compact form and serves from the artifact. The arithmetic is predict.py's, operation for operation
in the same order, so the probabilities are the same, bit for bit (tests hold them equal).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FORMAT = "routedesk-compact-1"
ANALYZERS = ("word", "char_wb", "char")

_WHITE_SPACES = re.compile(r"\s\s+")  # scikit-learn's _VectorizerMixin._white_spaces


class CompactError(ValueError):
    pass


@dataclass(slots=True)
class CompactVectorizer:
    """The fitted state of a TfidfVectorizer, under the attribute names predict.py reads."""

    name: str
    weight: float | None
    analyzer: str
    ngram_range: tuple[int, int]
    lowercase: bool
    token_pattern: str | None
    sublinear_tf: bool
    use_idf: bool
    norm: str | None
    vocabulary_: dict[str, int]
    idf_: NDArray[np.float64]

    def build_analyzer(self) -> Callable[[str], list[str]]:
        """scikit-learn's analyzer for these settings (no preprocessor, tokenizer or stop words)."""
        lower, (low, high) = self.lowercase, self.ngram_range
        if self.analyzer == "word":
            assert self.token_pattern is not None
            tokenize = re.compile(self.token_pattern).findall

            def words(doc: str) -> list[str]:
                return _word_ngrams(tokenize(doc.lower() if lower else doc), low, high)

            return words
        ngrams = _char_wb_ngrams if self.analyzer == "char_wb" else _char_ngrams

        def chars(doc: str) -> list[str]:
            return ngrams(doc.lower() if lower else doc, low, high)

        return chars


@dataclass(slots=True)
class LinearMember:
    """One calibrated member: softmax(beta * (x @ coef.T + intercept))."""

    coef: NDArray[np.float64]
    intercept: NDArray[np.float64]
    beta: float


@dataclass(slots=True)
class CompactModel:
    classes: list[str]
    vectorizers: list[CompactVectorizer]
    members: list[LinearMember]
    artifact_sha256: str

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.classes)))
        features = union_features([(v.name, v, v.weight) for v in self.vectorizers], texts)
        return temperature_softmax(features, [(m.coef, m.intercept, m.beta) for m in self.members], len(self.classes))


def top_labels(proba: NDArray[np.float64], classes: Sequence[str]) -> list[tuple[str, float]]:
    """The most likely class of each row and its probability, ties to the first (as predict.predict)."""
    best = np.argsort(-proba, axis=1, kind="stable")[:, 0]
    return [(classes[i], float(row[i])) for row, i in zip(proba, best, strict=True)]


def check_metadata(meta: dict[str, Any], model: CompactModel, *, artifact_sha256: str | None) -> None:
    """The checks of artifacts.load_model that concern a compact form: the metadata is ours, the
    artifact it was built from is the one metadata.json names (and still hashes to it), and this
    process runs the scikit-learn minor version that trained it (whose analyzers it reproduces)."""
    from importlib.metadata import version

    from classifiers.errors import ArtifactError

    name = meta.get("version")
    if meta.get("format_version") != 1:
        raise ArtifactError(f"model {name}: unsupported format_version {meta.get('format_version')!r}")
    if artifact_sha256 != meta.get("sha256"):
        raise ArtifactError(
            f"checksum mismatch for model {name}: metadata.json says {meta.get('sha256')}, "
            f"the artifact hashes to {artifact_sha256}"
        )
    if model.artifact_sha256 != meta.get("sha256"):
        raise ArtifactError(f"model {name}: its compact form was built from another artifact")
    trained = re.match(r"(\d+)\.(\d+)", str(meta.get("libraries", {}).get("sklearn", "")))
    running = re.match(r"(\d+)\.(\d+)", version("scikit-learn"))
    if trained is None or running is None or trained.groups() != running.groups():
        raise ArtifactError(
            f"model {name} was trained with scikit-learn {meta.get('libraries', {}).get('sklearn')!r}, "
            f"this process runs {version('scikit-learn')}; retrain the model"
        )
    if model.classes != [str(c) for c in meta.get("classes", [])]:
        raise ArtifactError(f"model {name}: the compact form's classes differ from metadata.json")


# ---------------------------------------------------------------------------------------------------
# Building and storing


def compile_pipeline(pipeline: Any, *, artifact_sha256: str) -> CompactModel | None:
    """The compact form of a fitted pipeline, or None when it has another shape than predict.py's."""
    from classifiers.predict import linear_members, reproducible_union

    steps = pipeline.steps
    if len(steps) != 2:
        return None
    union, classifier = steps[0][1], steps[1][1]
    parts = reproducible_union(union)
    members = linear_members(classifier)
    if parts is None or members is None:
        return None
    weights = union.transformer_weights or {}
    vectorizers = []
    for name, vectorizer in parts:
        if (
            not isinstance(vectorizer.analyzer, str)
            or vectorizer.analyzer not in ANALYZERS
            or vectorizer.preprocessor is not None
            or vectorizer.tokenizer is not None
            or vectorizer.stop_words is not None
            or vectorizer.strip_accents is not None
            or (vectorizer.analyzer == "word" and re.compile(vectorizer.token_pattern).groups > 1)
        ):
            return None
        weight = weights.get(name)
        vectorizers.append(
            CompactVectorizer(
                name=name,
                weight=None if weight is None else float(weight),
                analyzer=vectorizer.analyzer,
                ngram_range=(int(vectorizer.ngram_range[0]), int(vectorizer.ngram_range[1])),
                lowercase=bool(vectorizer.lowercase),
                token_pattern=vectorizer.token_pattern if vectorizer.analyzer == "word" else None,
                sublinear_tf=bool(vectorizer.sublinear_tf),
                use_idf=bool(vectorizer.use_idf),
                norm=vectorizer.norm,
                vocabulary_=dict(vectorizer.vocabulary_),
                idf_=np.asarray(vectorizer.idf_, dtype=np.float64) if vectorizer.use_idf else np.zeros(0),
            )
        )
    return CompactModel(
        classes=[str(c) for c in pipeline.classes_],
        vectorizers=vectorizers,
        members=[
            LinearMember(
                coef=np.ascontiguousarray(coef, dtype=np.float64),
                intercept=np.asarray(intercept, dtype=np.float64),
                beta=float(beta),
            )
            for coef, intercept, beta in members
        ],
        artifact_sha256=artifact_sha256,
    )


def dumps(model: CompactModel) -> bytes:
    arrays: dict[str, NDArray[Any]] = {}
    header: dict[str, Any] = {
        "format": FORMAT,
        "classes": model.classes,
        "artifact_sha256": model.artifact_sha256,
        "vectorizers": [],
        "members": [],
    }
    for i, v in enumerate(model.vectorizers):
        terms = sorted(v.vocabulary_, key=v.vocabulary_.__getitem__)
        if [v.vocabulary_[t] for t in terms] != list(range(len(terms))):
            raise CompactError(f"vectorizer {v.name!r}: vocabulary columns are not 0..n-1")
        arrays[f"v{i}_text"] = np.frombuffer("".join(terms).encode("utf-8", "surrogatepass"), dtype=np.uint8)
        arrays[f"v{i}_lengths"] = np.fromiter(map(len, terms), dtype=np.int64, count=len(terms))
        arrays[f"v{i}_idf"] = v.idf_
        header["vectorizers"].append(
            {
                "name": v.name,
                "weight": v.weight,
                "analyzer": v.analyzer,
                "ngram_range": list(v.ngram_range),
                "lowercase": v.lowercase,
                "token_pattern": v.token_pattern,
                "sublinear_tf": v.sublinear_tf,
                "use_idf": v.use_idf,
                "norm": v.norm,
            }
        )
    for i, m in enumerate(model.members):
        arrays[f"m{i}_coef"] = m.coef
        arrays[f"m{i}_intercept"] = m.intercept
        header["members"].append({"beta": m.beta})
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def loads(data: bytes) -> CompactModel:
    """Read what dumps() wrote. Never unpickles: arrays of numbers and one JSON header only."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        header = json.loads(arrays["header"].tobytes().decode("utf-8"))
        if header.get("format") != FORMAT:
            raise CompactError(f"unknown compact model format {header.get('format')!r}")
        vectorizers = []
        for i, v in enumerate(header["vectorizers"]):
            text = arrays[f"v{i}_text"].tobytes().decode("utf-8", "surrogatepass")
            ends = np.cumsum(arrays[f"v{i}_lengths"]).tolist()
            starts = [0, *ends[:-1]]
            vocabulary = {text[a:b]: column for column, (a, b) in enumerate(zip(starts, ends, strict=True))}
            if v["analyzer"] not in ANALYZERS or len(vocabulary) != len(ends):
                raise CompactError(f"vectorizer {v['name']!r} is malformed")
            idf = arrays[f"v{i}_idf"].astype(np.float64, copy=False)
            if v["use_idf"] and idf.shape != (len(vocabulary),):
                raise CompactError(f"vectorizer {v['name']!r}: idf does not match the vocabulary")
            vectorizers.append(
                CompactVectorizer(
                    name=str(v["name"]),
                    weight=None if v["weight"] is None else float(v["weight"]),
                    analyzer=v["analyzer"],
                    ngram_range=(int(v["ngram_range"][0]), int(v["ngram_range"][1])),
                    lowercase=bool(v["lowercase"]),
                    token_pattern=v["token_pattern"],
                    sublinear_tf=bool(v["sublinear_tf"]),
                    use_idf=bool(v["use_idf"]),
                    norm=v["norm"],
                    vocabulary_=vocabulary,
                    idf_=idf,
                )
            )
        n_features = sum(len(v.vocabulary_) for v in vectorizers)
        classes = [str(c) for c in header["classes"]]
        members = []
        for i, m in enumerate(header["members"]):
            coef = arrays[f"m{i}_coef"].astype(np.float64, copy=False)
            intercept = arrays[f"m{i}_intercept"].astype(np.float64, copy=False)
            if coef.shape != (len(classes), n_features) or intercept.shape != (len(classes),):
                raise CompactError("classifier coefficients do not match the features and classes")
            members.append(LinearMember(coef=coef, intercept=intercept, beta=float(m["beta"])))
    except CompactError:
        raise
    except (KeyError, TypeError, ValueError, OSError, UnicodeDecodeError) as exc:
        raise CompactError(f"not a compact model: {type(exc).__name__}: {exc}") from None
    if not members:
        raise CompactError("a compact model needs at least one classifier member")
    return CompactModel(
        classes=classes, vectorizers=vectorizers, members=members, artifact_sha256=str(header["artifact_sha256"])
    )


# ---------------------------------------------------------------------------------------------------
# The arithmetic: predict.py's, step for step, on plain NumPy arrays instead of SciPy sparse matrices
# (SciPy alone would add 23 MB to a worker). Same values in the same order, so the same floats.


@dataclass(slots=True)
class _Rows:
    """A CSR matrix's three arrays: row i has columns indices[indptr[i]:indptr[i+1]], ascending."""

    data: NDArray[np.float64]
    indices: NDArray[np.int64]
    indptr: NDArray[np.int64]


def temperature_softmax(
    features: _Rows,
    members: Sequence[tuple[NDArray[np.float64], NDArray[np.float64], float]],
    n_classes: int,
) -> NDArray[np.float64]:
    """What CalibratedClassifierCV(method="temperature").predict_proba computes over linear models."""
    scores = (
        (_matmul(features, np.ascontiguousarray(coef.T), n_classes) + intercept, beta)
        for coef, intercept, beta in members
    )
    return calibrated_mean(scores, len(features.indptr) - 1, n_classes)


def calibrated_mean(
    member_scores: Iterable[tuple[NDArray[np.float64], float]], n_rows: int, n_classes: int
) -> NDArray[np.float64]:
    """The mean over members of softmax(beta * logits), for each member's decision scores and
    temperature (predict.py's SciPy path and this module's NumPy one both end here)."""
    total = np.zeros((n_rows, n_classes))
    count = 0
    for scores, beta in member_scores:
        if np.all((scores >= 0) & (scores <= 1)) and np.allclose(scores.sum(axis=1), 1.0):
            # scikit-learn reads a score matrix that looks like probabilities as probabilities and
            # takes their logs (calibration._convert_to_logits).
            scores = np.log(scores + 1e-12)
        logits = beta * scores
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        logits /= logits.sum(axis=1, keepdims=True)
        logits[(logits > 1.0) & (logits <= 1.0 + 1e-5)] = 1.0
        total += logits
        count += 1
    total /= count
    return total


def _matmul(features: _Rows, coef_t: NDArray[np.float64], n_classes: int) -> NDArray[np.float64]:
    """features @ coef_t as SciPy's csr_matvecs computes it: per row, y += a * x over the row's
    entries in order, from zero (np.cumsum adds strictly in sequence)."""
    out = np.zeros((len(features.indptr) - 1, n_classes))
    for i, (start, end) in enumerate(zip(features.indptr[:-1].tolist(), features.indptr[1:].tolist(), strict=True)):
        if end > start:
            terms = features.data[start:end, None] * coef_t[features.indices[start:end]]
            out[i] = np.cumsum(terms, axis=0)[-1]
    return out


def union_features(parts: Sequence[tuple[str, Any, float | None]], texts: list[str]) -> _Rows:
    """The FeatureUnion's rows: each block weighted, then the blocks side by side (sp.hstack)."""
    blocks = []
    for _name, vectorizer, weight in parts:
        block = tfidf(vectorizer, texts)
        if weight is not None:
            block.data *= weight
        blocks.append((block, len(vectorizer.vocabulary_)))
    data, indices, indptr = [], [], [0]
    for i in range(len(texts)):
        offset = 0
        for block, width in blocks:
            start, end = int(block.indptr[i]), int(block.indptr[i + 1])
            data.append(block.data[start:end])
            indices.append(block.indices[start:end] + offset)
            offset += width
        indptr.append(indptr[-1] + sum(int(b.indptr[i + 1] - b.indptr[i]) for b, _ in blocks))
    return _Rows(
        data=np.concatenate(data) if data else np.zeros(0),
        indices=np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
        indptr=np.asarray(indptr, dtype=np.int64),
    )


def tfidf(vectorizer: Any, texts: list[str]) -> _Rows:
    counts = term_counts(vectorizer, texts)
    weigh_counts(vectorizer, counts, len(texts))
    return counts


def weigh_counts(vectorizer: Any, counts: Any, n_texts: int) -> None:
    """Turn term counts into TF-IDF rows in place, the same arithmetic as TfidfTransformer.transform
    followed by normalize(). `counts` is a CSR matrix: _Rows, or SciPy's (predict._tfidf)."""
    data = counts.data
    if vectorizer.sublinear_tf:
        np.log(data, out=data)
        data += 1.0
    if vectorizer.use_idf:
        data *= vectorizer.idf_[counts.indices]
    if vectorizer.norm == "l2":
        rows = np.repeat(np.arange(n_texts), np.diff(counts.indptr))
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=n_texts))
        norms[norms == 0.0] = 1.0
        data /= norms[rows]


def term_counts(vectorizer: Any, texts: list[str]) -> _Rows:
    """How often each vocabulary term occurs in each text, columns ascending within a row."""
    analyze = vectorizer.build_analyzer()
    vocabulary = vectorizer.vocabulary_
    indptr = [0]
    indices: list[int] = []
    counts: list[int] = []
    for text in texts:
        row: dict[int, int] = {}
        for term in analyze(text):
            column = vocabulary.get(term)
            if column is not None:
                row[column] = row.get(column, 0) + 1
        columns = sorted(row)
        indices.extend(columns)
        counts.extend(row[c] for c in columns)
        indptr.append(len(indices))
    return _Rows(
        data=np.asarray(counts, dtype=np.float64),
        indices=np.asarray(indices, dtype=np.int64),
        indptr=np.asarray(indptr, dtype=np.int64),
    )


# scikit-learn's n-gram functions (feature_extraction/text.py, _VectorizerMixin), as plain functions.


def _word_ngrams(tokens: list[str], min_n: int, max_n: int) -> list[str]:
    if max_n != 1:
        original_tokens = tokens
        if min_n == 1:
            tokens = list(original_tokens)
            min_n += 1
        else:
            tokens = []
        n_original_tokens = len(original_tokens)
        tokens_append = tokens.append
        space_join = " ".join
        for n in range(min_n, min(max_n + 1, n_original_tokens + 1)):
            for i in range(n_original_tokens - n + 1):
                tokens_append(space_join(original_tokens[i : i + n]))
    return tokens


def _char_ngrams(text_document: str, min_n: int, max_n: int) -> list[str]:
    text_document = _WHITE_SPACES.sub(" ", text_document)
    text_len = len(text_document)
    if min_n == 1:
        ngrams = list(text_document)
        min_n += 1
    else:
        ngrams = []
    ngrams_append = ngrams.append
    for n in range(min_n, min(max_n + 1, text_len + 1)):
        for i in range(text_len - n + 1):
            ngrams_append(text_document[i : i + n])
    return ngrams


def _char_wb_ngrams(text_document: str, min_n: int, max_n: int) -> list[str]:
    text_document = _WHITE_SPACES.sub(" ", text_document)
    ngrams: list[str] = []
    ngrams_append = ngrams.append
    for w in text_document.split():
        w = " " + w + " "
        w_len = len(w)
        for n in range(min_n, max_n + 1):
            offset = 0
            ngrams_append(w[offset : offset + n])
            while offset + n < w_len:
                offset += 1
                ngrams_append(w[offset : offset + n])
            if offset == 0:  # count a short word (w_len < n) only once
                break
    return ngrams
