"""Kept apart from artifacts.py so that callers can catch it without importing scikit-learn."""


class ArtifactError(Exception):
    """A model directory that must not be used, with the reason."""


class TrainingFailed(Exception):
    """Training in a child process did not give a model; the message is the child's one-line reason."""
