"""The log as `configure_logging` sets it up for every command: no values of variables in tracebacks,
secrets redacted, one bounded line per record, and written by a thread of its own so that a slow or
stuck stderr never holds up the caller."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from urllib.parse import quote

import pytest
import structlog

from app.logs import register_secret
from app.users.service import TOKEN_PREFIX
from tests.logcapture import LogCapture, StuckStream

Capture = Callable[..., LogCapture]
FORMATS = pytest.mark.parametrize("json_format", [False, True], ids=["console", "json"])


def _fail_holding_private_values() -> None:
    password = "pw-in-a-local-7f3a"
    authorization = {"Authorization": "Bearer rdt_local_token_value_9b1c"}
    body = "mail body text that stays private 42e1"
    raise RuntimeError(f"failed while holding {len(password) + len(authorization) + len(body)} things")


@FORMATS
def test_an_exception_is_logged_as_type_message_and_frames_never_the_values_of_its_variables(
    log_capture: Capture, json_format: bool
) -> None:
    capture = log_capture(json=json_format)
    try:
        _fail_holding_private_values()
    except RuntimeError:
        structlog.get_logger().exception("structlog_failure")
        logging.getLogger("uvicorn.error").exception("stdlib failure")
    text = capture.text()
    for value in ("pw-in-a-local-7f3a", "rdt_local_token_value_9b1c", "private 42e1"):
        assert value not in text
    lines = capture.lines()
    assert len(lines) == 2, text  # one line per record, traceback included
    for line in lines:
        assert "RuntimeError" in line and "failed while holding" in line
        assert "_fail_holding_private_values" in line  # the frames are named
    if json_format:
        first = json.loads(lines[0])
        assert first["event"] == "structlog_failure" and first["exception"]["type"] == "RuntimeError"
        assert json.loads(lines[1])["logger"] == "uvicorn.error"


@FORMATS
def test_a_huge_record_is_capped_to_one_bounded_line(log_capture: Capture, json_format: bool) -> None:
    capture = log_capture(json=json_format)
    huge = "x" * 5_000_000
    structlog.get_logger().warning("huge_field", payload=huge, other=list(range(200_000)))
    logging.getLogger("sqlalchemy.pool").warning("huge message %s", huge)
    try:
        raise ValueError(huge)
    except ValueError:
        structlog.get_logger().exception("huge_exception")
    lines = capture.lines()
    assert len(lines) == 3
    assert all(len(line) <= 17_000 for line in lines), [len(line) for line in lines]
    assert "huge_field" in lines[0] and "more chars" in lines[0]


@FORMATS
def test_secret_fields_bearer_strings_url_passwords_and_registered_secrets_are_redacted(
    log_capture: Capture, json_format: bool
) -> None:
    capture = log_capture(json=json_format)
    register_secret("mailbox-pass-3c9d")
    log = structlog.get_logger()
    log.info("fields", password="field-pass-1a2b", smtp_password="smtp-pass-5e6f", token="rdt_abcdefghijk")
    log.info("headers", headers={"authorization": "Bearer plain-bearer-77aa", "accept": "*/*"})
    log.warning("urls", imap="imaps://agent:url-pass-8b8b@imap.example:993/INBOX")
    log.warning("texts", error='login failed: password="quoted-pass-2d2d", key=token:colon-token-4f4f')
    log.error("registered", error="refused mailbox-pass-3c9d", encoded=quote("mailbox-pass-3c9d"))
    log.error("registered_b64", error=base64.b64encode(b"mailbox-pass-3c9d").decode())
    logging.getLogger("aioimaplib").warning("Sending : b'A1 LOGIN agent \"imap-login-pass-6c6c\"\\r\\n'")
    logging.getLogger("uvicorn.error").warning("got Authorization: Bearer %s", TOKEN_PREFIX + "stdlib_token_1234")
    text = capture.text()
    for value in (
        "field-pass-1a2b",
        "smtp-pass-5e6f",
        "abcdefghijk",
        "plain-bearer-77aa",
        "url-pass-8b8b",
        "quoted-pass-2d2d",
        "colon-token-4f4f",
        "mailbox-pass-3c9d",
        base64.b64encode(b"mailbox-pass-3c9d").decode(),
        "imap-login-pass-6c6c",
        "stdlib_token_1234",
    ):
        assert value not in text, value
    assert "imap.example" in text and "*/*" in text  # what is not secret stays readable
    assert len(capture.lines()) == 8


def test_records_are_written_by_a_thread_of_their_own(log_capture: Capture) -> None:
    stream = StuckStream()
    capture = log_capture(stream=stream)
    structlog.get_logger().info("one")
    logging.getLogger("uvicorn.error").warning("two")
    capture.text()
    assert "one" in stream.text() and "two" in stream.text()
    assert stream.caller not in stream.writers


def test_a_stuck_stream_never_blocks_the_caller_and_what_is_dropped_is_counted(log_capture: Capture) -> None:
    stream = StuckStream(blocked=True)
    capture = log_capture(stream=stream, queue_size=50)
    log = structlog.get_logger()
    for n in range(500):
        log.info("record", n=n)  # returns at once although nothing can be written
    assert stream.caller not in stream.writers
    stream.release.set()
    capture.text()
    lines = [line for line in stream.text().splitlines() if line]
    written = [line for line in lines if "record" in line and "dropped" not in line]
    notices = [line for line in lines if "log_records_dropped" in line]
    # One notice per stretch of drops, written when writing resumes.
    dropped = sum(int(notice.split("dropped=")[1].split()[0]) for notice in notices)
    assert dropped > 0 and len(written) + dropped == 500
    assert len(written) <= 50 + 2  # the queue's size, the record being written, and one taken meanwhile


def test_the_token_pattern_matches_the_tokens_the_app_issues() -> None:
    from app.logs import scrub
    from app.users.service import new_token

    token = new_token()
    assert token not in scrub(f"token {token} refused")


def test_the_encryption_key_stays_redacted_however_many_secrets_come_after_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from cryptography.fernet import Fernet

    from app import logs
    from app.secrets import SecretBox

    # This process's registry, emptied for the test and put back after it.
    monkeypatch.setattr(logs, "_known", {})
    monkeypatch.setattr(logs, "_pinned", set())
    monkeypatch.setattr(logs, "_known_pattern", None)
    monkeypatch.setattr(logs, "MAX_KNOWN_SECRETS", 50)
    key = Fernet.generate_key()
    box = SecretBox(key)
    for n in range(100):  # mailbox passwords saved over the process's life
        box.encrypt(f"mailbox-password-{n:04d}")
    assert key.decode() not in logs.scrub(f"key={key.decode()}")
    assert "mailbox-password-0099" not in logs.scrub("mailbox-password-0099")
