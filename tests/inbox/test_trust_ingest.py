"""Sender trust in ingestion (issue 14): the settings, and the verdict reaching ingest from the real
IMAP server through the poller's parse step."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from typing import Any

import pytest

from app.config import IngestSettings, Settings
from app.runtime import Runtime
from app.worker import parse_executor
from tests.inbox.test_poller import add_mailbox, poller, stored
from tests.logcapture import LogCapture
from tests.mailgen import mail
from tests.mailtext.signing import SigningKey, install_dns


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


# ---------------------------------------------------------------------------------------------------
# through the real IMAP server, the poller and its parse worker processes

OURS = "mx.ours.example"
FROM = "ana@merchant.example"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey("merchant.example")


@pytest.fixture
def parse_workers(key: SigningKey) -> Iterator[Executor]:
    # app.worker's own pool (spawned workers that die with this process), the test's DNS in each
    executor = parse_executor(1, initializer=install_dns, initargs=({key.name: key.txt},))
    assert executor is not None
    try:
        yield executor
    finally:
        executor.shutdown(wait=True)


def _batch(key: SigningKey) -> dict[str, bytes]:
    def one(label: str, **kwargs: Any) -> bytes:
        return mail(message_id=f"<{label}@merchant.example>", sender=FROM, subject=f"Payout {label}", **kwargs)

    forged = b"Authentication-Results: mx.attacker.example; dmarc=pass header.from=merchant.example\n"
    spoofed = f"Authentication-Results: {OURS}; spf=fail; dmarc=fail header.from=merchant.example\n".encode()
    return {
        "signed-1": key.sign(one("signed-1")),
        "signed-2": key.sign(one("signed-2")),
        "signed-3": key.sign(one("signed-3")),
        "body-changed": key.sign(one("body-changed", body="Pay to 1111")).replace(b"1111", b"6666"),
        "subject-changed": key.sign(one("subject-changed")).replace(b"Payout subject-changed", b"New bank"),
        "forged-authres": forged + one("forged-authres"),
        "dmarc-fail": spoofed + one("dmarc-fail"),
        "unsigned-1": one("unsigned-1"),
        "unsigned-2": one("unsigned-2"),
    }


async def test_trust_verdicts_reach_ingest_from_the_parse_workers(
    runtime: Runtime,
    imap_server: Any,
    key: SigningKey,
    parse_workers: Executor,
    log_capture: Callable[..., LogCapture],
) -> None:
    messages = _batch(key)
    for raw in messages.values():
        await imap_server.append(raw)
    mailbox = await add_mailbox(runtime, imap_server.endpoint)
    capture = log_capture(json=True)
    polling = poller(runtime, mailbox, ingest={"trusted_authserv_ids": [OURS], "verify_dkim": True})
    polling.executor = parse_workers  # a batch of 8 or more goes to the workers (MailboxPoller._parse)
    counts = await polling.poll_once()
    assert counts.ingested == len(messages)
    assert sorted(await stored(runtime)) == sorted(f"{label}@merchant.example" for label in messages)

    events = [json.loads(line) for line in capture.lines() if line.startswith("{")]
    batches = [event for event in events if event.get("event") == "batch_ingested"]
    # Verified at all only in the workers: this process has no test DNS, its default (real) lookup
    # would have made every signature temperror.
    trust = [{name: event[name] for name in event if name.startswith("trust_")} for event in batches]
    assert trust == [{"trust_verified": 3, "trust_unverified": 3, "trust_failed": 3}]
    failed = {event["message_id"]: event["reason"] for event in events if event.get("event") == "sender_trust_failed"}
    assert set(failed) == {f"{label}@merchant.example" for label in ("body-changed", "subject-changed", "dmarc-fail")}
    assert failed["body-changed@merchant.example"].endswith("(dkimpy): body hash mismatch")
    assert failed["dmarc-fail@merchant.example"] == f"DMARC fail for merchant.example (authres:{OURS})"


def test_a_message_cut_at_the_size_limit_is_not_failed_by_our_own_dkim_check() -> None:
    """The poller keeps a message over ingest.max_message_bytes truncated: its body hash cannot match,
    which says nothing of its sender. Whole, the same message verifies."""
    from app.inbox.parsing import TrustOptions, parse_batch
    from mailtext.trust import Verdict, use_dns
    from tests.mailtext.signing import Dns

    key = SigningKey("merchant.example")
    use_dns(Dns().publish(key))
    try:
        raw = key.sign(mail(sender="ana@merchant.example", body="Hello, my payout is missing. " * 400))
        options = TrustOptions(verify_dkim=True)
        whole, cut = parse_batch([(1, raw, len(raw), False), (2, raw[:4000], len(raw), True)], 1024, trust=options)
        assert whole.parsed is not None and whole.parsed.trust.verdict is Verdict.VERIFIED
        assert cut.parsed is not None and cut.parsed.trust.verdict is Verdict.UNVERIFIED
        assert "truncated" in cut.parsed.trust.reason
    finally:
        use_dns(None)
