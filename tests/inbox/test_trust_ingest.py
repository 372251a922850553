"""Sender trust in ingestion (issue 14): the settings, and the verdict reaching ingest from the real
IMAP server through the poller's parse step."""

from __future__ import annotations

import pytest

from app.config import IngestSettings, Settings


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('["MX.Ours.example", "mx2.ours.example"]', ["mx.ours.example", "mx2.ours.example"]),
        ("mx1.ours.example, mx2.ours.example", ["mx1.ours.example", "mx2.ours.example"]),
        ("mx.ours.example", ["mx.ours.example"]),
        ("", []),
    ],
)
def test_trusted_authserv_ids_are_read_from_the_environment_as_json_or_comma_separated(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("ROUTEDESK_INGEST__TRUSTED_AUTHSERV_IDS", value)
    monkeypatch.setenv("ROUTEDESK_INGEST__VERIFY_DKIM", "true")
    settings = Settings()
    assert settings.ingest.trusted_authserv_ids == expected
    assert settings.ingest.verify_dkim is True


def test_trust_settings_default_to_trusting_nothing() -> None:
    assert IngestSettings().trusted_authserv_ids == []
    assert IngestSettings().verify_dkim is False


def test_a_malformed_json_list_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTEDESK_INGEST__TRUSTED_AUTHSERV_IDS", '["mx.ours.example"')
    with pytest.raises(ValueError, match="trusted_authserv_ids"):
        Settings()
