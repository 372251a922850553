"""Kept apart from artifacts.py so that callers can catch it without importing scikit-learn."""


class ArtifactError(Exception):
    """A model directory that must not be used, with the reason."""
