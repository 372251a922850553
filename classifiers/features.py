"""The routing pipeline's TF-IDF vectorizer, stored so that saving and loading a model stays cheap.

skops writes a dict node by node: the demo's 81,000 n-grams made a 68 MB JSON schema whose building
(at save) and parsing (at every load check) peaked at ~260 MB and ~200 MB. The same vocabulary as
one NumPy array of terms in column order is stored as a single .npy entry (10 MB artifact for the
demo's model, ~30 MB at save, ~6 MB at load); the dict scikit-learn reads is rebuilt at load. Fitting
and transforming are TfidfVectorizer's own, so predictions are unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer


class ArrayVocabTfidfVectorizer(TfidfVectorizer):  # type: ignore[misc]
    def __getstate__(self) -> dict[str, Any]:
        # A copy: object.__getstate__ hands back the live __dict__, which must keep its dict.
        state: dict[str, Any] = dict(super().__getstate__())
        vocabulary = state.get("vocabulary_")
        if isinstance(vocabulary, dict):
            terms = [""] * len(vocabulary)
            for term, column in vocabulary.items():
                terms[column] = term
            state["vocabulary_"] = np.array(terms, dtype=np.str_)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        vocabulary = state.get("vocabulary_")
        if isinstance(vocabulary, np.ndarray):
            state = {**state, "vocabulary_": {str(term): column for column, term in enumerate(vocabulary.tolist())}}
        super().__setstate__(state)
