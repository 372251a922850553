from __future__ import annotations


def routing_text(subject: str, new_text: str) -> str:
    """What a model reads of a ticket, in training and in serving alike: the subject line, then the
    message's new text (quotes and signature removed). One function so that the two cannot drift."""
    return f"{subject}\n{new_text}"
