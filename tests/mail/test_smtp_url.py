from __future__ import annotations

import pytest

from app.mail.smtp import SmtpEndpoint, parse_smtp_url


def test_smtp_url_forms_and_their_security() -> None:
    assert parse_smtp_url("smtp://mail.example.com") == SmtpEndpoint("mail.example.com", 25, "none")
    assert parse_smtp_url("smtps://mail.example.com") == SmtpEndpoint("mail.example.com", 465, "tls")
    starttls = parse_smtp_url("smtp://support%40example.com:p%40ss%3Aw%2Fd@mail.example.com:587?tls=starttls")
    assert starttls == SmtpEndpoint("mail.example.com", 587, "starttls", "support@example.com", "p@ss:w/d")
    assert parse_smtp_url("smtp://user@[::1]:2525").host == "::1"


def test_smtp_url_is_shown_without_its_password() -> None:
    endpoint = parse_smtp_url("smtp://support%40example.com:secret@mail.example.com:587?tls=starttls")
    assert str(endpoint) == "smtp://support%40example.com:***@mail.example.com:587?tls=starttls"
    assert "secret" not in repr(endpoint)
    assert parse_smtp_url(endpoint.to_url()) == endpoint
    assert str(parse_smtp_url("smtps://mail.example.com:465")) == "smtps://mail.example.com:465"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("imap://mail.example.com", "scheme must be smtp:// or smtps://"),
        ("smtp://", "has no host"),
        ("smtp://mail.example.com:99999", "invalid port"),
        ("smtp://mail.example.com:", "empty port"),
        ("smtp://mail.example.com/INBOX", "no path"),
        ("smtp://mail.example.com?tls=yes", "must be 'starttls' or 'none'"),
        ("smtp://mail.example.com?auth=plain", "unknown SMTP URL parameter"),
        ("smtps://mail.example.com?tls=starttls", "implicit TLS"),
        ("smtp://:secret@mail.example.com", "a password but no user"),
    ],
)
def test_bad_smtp_urls_are_refused_without_quoting_the_password(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        parse_smtp_url(url)
    assert "secret" not in str(raised.value)
