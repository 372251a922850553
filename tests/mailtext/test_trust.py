"""Sender trust (issue 14): Authentication-Results from trusted authserv-ids only, DKIM verified by
dkimpy with test keys whose DNS the test answers, the verdict rule, and bad input that never raises."""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import pytest

from app.inbox.parsing import TrustOptions, parse, parse_many
from mailtext.message import parse_message
from mailtext.trust import (
    MAX_AUTHRES_CHARS,
    UNVERIFIED,
    DkimKeys,
    SenderTrust,
    Verdict,
    aligned,
    assess,
    default_keys,
    organisational_domain,
    use_dns,
)
from tests.mailgen import mail
from tests.mailtext.signing import Dns, SigningKey
from tests.mailtext.test_corpora import _params, cpython_email_data, datasets_dir

FROM = "ana@merchant.example"
OURS = "mx.ours.example"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return SigningKey("merchant.example")


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return SigningKey("mailer.example", selector="k2")


@pytest.fixture
def dns(key: SigningKey, other_key: SigningKey) -> Dns:
    return Dns().publish(key, other_key)


def verify(raw: bytes, dns: Any, sender: str | None = FROM) -> SenderTrust:
    return assess(raw, sender, trusted_authserv_ids=[], verify_dkim=True, dns=dns)


def with_authres(raw: bytes, *values: str) -> bytes:
    return b"".join(f"Authentication-Results: {value}\n".encode() for value in values) + raw


def trusting(raw: bytes, sender: str | None = FROM, *, ids: tuple[str, ...] = (OURS,)) -> SenderTrust:
    return assess(raw, sender, trusted_authserv_ids=ids)


# ---------------------------------------------------------------------------------------------------
# DKIM verified by dkimpy


def test_a_valid_signature_aligned_with_from_is_verified(key: SigningKey, dns: Dns) -> None:
    trust = verify(key.sign(mail(sender=FROM)), dns)
    assert trust.verdict is Verdict.VERIFIED
    assert (trust.dkim, trust.dkim_domain, trust.aligned, trust.source) == ("pass", "merchant.example", True, "dkimpy")
    assert dns.asked == ["s1._domainkey.merchant.example"]


def test_a_body_changed_after_signing_fails(key: SigningKey, dns: Dns) -> None:
    raw = key.sign(mail(sender=FROM, body="Please pay to account 1111."))
    trust = verify(raw.replace(b"1111", b"6666"), dns)
    assert trust.verdict is Verdict.FAILED
    assert (trust.dkim, trust.dkim_domain) == ("fail", "merchant.example")
    assert "body hash mismatch" in trust.reason


def test_a_changed_signed_subject_fails(key: SigningKey, dns: Dns) -> None:
    raw = key.sign(mail(sender=FROM, subject="Payout missing"))
    trust = verify(raw.replace(b"Subject: Payout missing", b"Subject: New bank account"), dns)
    assert trust.verdict is Verdict.FAILED
    assert "signature does not verify" in trust.reason


def test_a_second_from_added_after_signing_fails(key: SigningKey, dns: Dns) -> None:
    # dkimpy signs From once more than it appears (oversigning), so an added From breaks the signature.
    raw = key.sign(mail(sender=FROM))
    trust = verify(b"From: boss@merchant.example\n" + raw, dns)
    assert trust.verdict is Verdict.FAILED
    assert trust.dkim == "fail"


def test_a_dkim_pass_for_a_domain_not_aligned_with_from_is_unverified(other_key: SigningKey, dns: Dns) -> None:
    keys = DkimKeys(dns)
    trust = verify(other_key.sign(mail(sender=FROM)), keys)
    assert trust.verdict is Verdict.UNVERIFIED
    # A signature that could not change the verdict is not checked: its key is never looked up (its
    # signer could make that lookup slow).
    assert (trust.dkim, trust.dkim_domain, trust.aligned) == ("none", "mailer.example", False)
    assert "not aligned" in trust.reason and keys.lookups == 0


def test_a_subdomain_signature_is_aligned_relaxed(dns: Dns) -> None:
    sub = SigningKey("mail.merchant.example")
    dns.publish(sub)
    assert verify(sub.sign(mail(sender=FROM)), dns).verdict is Verdict.VERIFIED


def test_alignment_is_by_organisational_domain_from_the_public_suffix_list() -> None:
    assert organisational_domain("a.b.merchant.co.uk") == "merchant.co.uk"
    assert aligned("mail.merchant.co.uk", "merchant.co.uk")
    assert not aligned("other.co.uk", "merchant.co.uk")  # co.uk is a public suffix, not an organisation
    assert not aligned("evil.github.io", "merchant.github.io")  # a private suffix too
    assert not aligned(None, "merchant.example")


def test_a_missing_key_is_unverified_with_the_reason(key: SigningKey) -> None:
    trust = verify(key.sign(mail(sender=FROM)), Dns())
    assert trust.verdict is Verdict.UNVERIFIED
    assert trust.dkim == "permerror"
    assert "missing public key" in trust.reason


def test_a_dns_failure_is_unverified_temperror_not_a_crash(key: SigningKey) -> None:
    trust = verify(key.sign(mail(sender=FROM)), Dns(failing={key.name}).publish(key))
    assert trust.verdict is Verdict.UNVERIFIED
    assert trust.dkim == "temperror"
    assert "key lookup failed: TimeoutError" in trust.reason


def test_keys_are_cached_per_selector_and_domain_for_the_ttl(key: SigningKey, other_key: SigningKey, dns: Dns) -> None:
    now = [1000.0]
    keys = DkimKeys(dns, ttl=600, clock=lambda: now[0])
    sub = SigningKey("mail.merchant.example")  # aligned with From, another domain's key
    dns.publish(sub)
    for _ in range(5):
        assert verify(key.sign(mail(sender=FROM)), keys).verdict is Verdict.VERIFIED
    assert verify(sub.sign(mail(sender=FROM)), keys).verdict is Verdict.VERIFIED
    assert keys.lookups == 2
    now[0] += 601
    assert verify(key.sign(mail(sender=FROM)), keys).verdict is Verdict.VERIFIED
    assert keys.lookups == 3
    assert dns.asked == [key.name, sub.name, key.name]


def test_a_failed_lookup_is_not_cached(key: SigningKey) -> None:
    dns = Dns(failing={key.name}).publish(key)
    keys = DkimKeys(dns)
    raw = key.sign(mail(sender=FROM))
    assert verify(raw, keys).dkim == "temperror"
    dns.failing.clear()
    assert verify(raw, keys).verdict is Verdict.VERIFIED


def test_without_verify_dkim_a_signature_is_not_checked(key: SigningKey, dns: Dns) -> None:
    trust = assess(key.sign(mail(sender=FROM)), FROM, trusted_authserv_ids=[], dns=dns)
    assert trust.verdict is Verdict.UNVERIFIED and not trust.assessed
    assert "not assessed" in trust.reason
    assert dns.asked == []


# ---------------------------------------------------------------------------------------------------
# Authentication-Results


def test_a_forged_authentication_results_from_an_untrusted_authserv_id_is_ignored() -> None:
    raw = with_authres(mail(sender=FROM), "mx.attacker.example; dkim=pass header.d=merchant.example; dmarc=pass")
    trust = trusting(raw)
    assert trust.verdict is Verdict.UNVERIFIED
    assert trust.reason == "no Authentication-Results from a trusted authserv-id"
    assert (trust.dkim, trust.dmarc, trust.source) == (None, None, "")


def test_an_untrusted_id_that_contains_the_trusted_one_is_still_ignored() -> None:
    raw = with_authres(mail(sender=FROM), f"evil-{OURS}; dmarc=pass header.from=merchant.example")
    assert trusting(raw).verdict is Verdict.UNVERIFIED


def test_a_trusted_dmarc_fail_fails() -> None:
    raw = with_authres(
        mail(sender=FROM), f"{OURS}; spf=fail smtp.mailfrom=x@attacker.example; dmarc=fail header.from=merchant.example"
    )
    trust = trusting(raw)
    assert trust.verdict is Verdict.FAILED
    assert (trust.spf, trust.dmarc, trust.aligned, trust.source) == ("fail", "fail", False, f"authres:{OURS}")
    assert trust.reason == f"DMARC fail for merchant.example (authres:{OURS})"


def test_a_trusted_dmarc_pass_is_verified_and_records_every_result() -> None:
    raw = with_authres(
        mail(sender=FROM),
        f"{OURS}; spf=pass smtp.mailfrom=ana@merchant.example; dkim=pass (good) header.d=merchant.example "
        "header.s=s1; dmarc=pass (p=reject) header.from=merchant.example",
    )
    trust = trusting(raw)
    assert trust.verdict is Verdict.VERIFIED
    assert (trust.spf, trust.dkim, trust.dkim_domain, trust.dmarc) == ("pass", "pass", "merchant.example", "pass")
    assert trust.aligned is True


def test_results_split_over_several_trusted_headers_are_combined() -> None:
    raw = with_authres(mail(sender=FROM), f"{OURS}; spf=pass smtp.mailfrom=merchant.example", f"{OURS}; none")
    raw = with_authres(raw, "MX.Ours.Example; dkim=pass header.d=merchant.example")
    trust = trusting(raw)
    assert trust.verdict is Verdict.VERIFIED
    assert (trust.spf, trust.dkim) == ("pass", "pass")


def test_a_trusted_aligned_dkim_pass_without_dmarc_is_verified() -> None:
    raw = with_authres(mail(sender=FROM), f"{OURS}; dkim=pass header.i=@mail.merchant.example")
    trust = trusting(raw)
    assert trust.verdict is Verdict.VERIFIED
    assert trust.dkim_domain == "mail.merchant.example"


def test_a_trusted_dkim_pass_not_aligned_is_unverified() -> None:
    raw = with_authres(mail(sender=FROM), f"{OURS}; dkim=pass header.d=mailer.example")
    trust = trusting(raw)
    assert trust.verdict is Verdict.UNVERIFIED
    assert trust.aligned is False


def test_a_trusted_aligned_dkim_fail_fails_even_beside_a_pass() -> None:
    raw = with_authres(
        mail(sender=FROM), f"{OURS}; dkim=pass header.d=merchant.example; dkim=fail header.d=merchant.example"
    )
    assert trusting(raw).verdict is Verdict.FAILED


def test_spf_alone_does_not_verify() -> None:
    raw = with_authres(mail(sender=FROM), f"{OURS}; spf=pass smtp.mailfrom=merchant.example")
    trust = trusting(raw)
    assert trust.verdict is Verdict.UNVERIFIED
    assert trust.spf == "pass"


def test_a_dmarc_result_for_another_domain_than_from_is_ignored() -> None:
    raw = with_authres(mail(sender=FROM), f"{OURS}; dmarc=pass header.from=attacker.example")
    trust = trusting(raw)
    assert trust.verdict is Verdict.UNVERIFIED
    assert any("not the From domain" in item for item in trust.problems)


def test_a_dmarc_result_for_another_domain_does_not_hide_the_one_for_from() -> None:
    raw = with_authres(
        mail(sender=FROM),
        f"{OURS}; dmarc=pass header.from=attacker.example",
        f"{OURS}; dmarc=fail header.from=merchant.example",
    )
    assert trusting(raw).verdict is Verdict.FAILED


def test_no_from_address_is_unverified() -> None:
    raw = with_authres(mail(sender=FROM), f"{OURS}; dmarc=pass header.from=merchant.example")
    assert trusting(raw, None).reason == "no From address to check"


def test_our_own_failing_signature_overrides_a_trusted_pass(key: SigningKey, dns: Dns) -> None:
    raw = with_authres(key.sign(mail(sender=FROM)), f"{OURS}; dkim=pass header.d=merchant.example")
    raw = raw.replace(b"Payout missing", b"Payout moved")
    trust = assess(raw, FROM, trusted_authserv_ids=[OURS], verify_dkim=True, dns=dns)
    assert trust.verdict is Verdict.FAILED
    assert trust.source == "dkimpy"


# ---------------------------------------------------------------------------------------------------
# bad input: never raises, unverified with the reason


BAD_AUTHRES = {
    "truncated": f"{OURS}; dkim=",
    "no results": f"{OURS}",
    "wrong tags": f"{OURS}; dkim=pass header.d merchant.example; dmarc",
    "unknown result": f"{OURS}; dkim=splendid header.d=merchant.example",
    "unclosed comment": f"{OURS}; dkim=pass (header.d=merchant.example",
    "deep comments": f"{OURS}; dkim=pass " + "(" * 5000,
    "huge": f"{OURS}; " + "; ".join(f"dkim=pass header.d=x{i}.example" for i in range(4000)),
    "NUL": f"{OURS}; dkim=pass\x00 header.d=merchant.example\x00; dmarc=pass\x00",
}


@pytest.mark.parametrize("name", sorted(BAD_AUTHRES))
def test_malformed_authentication_results_are_unverified_with_the_reason(name: str) -> None:
    trust = trusting(with_authres(mail(sender=FROM), BAD_AUTHRES[name]))
    assert trust.verdict is Verdict.UNVERIFIED
    assert trust.reason
    assert "\x00" not in trust.reason and all("\x00" not in item for item in trust.problems)


def test_a_huge_authentication_results_is_not_read() -> None:
    trust = trusting(with_authres(mail(sender=FROM), BAD_AUTHRES["huge"]))
    assert trust.reason == "Authentication-Results longer than 16384 characters: not read"


def test_non_utf8_bytes_in_authentication_results_are_unverified() -> None:
    raw = b"Authentication-Results: " + OURS.encode() + b"; dkim=pass header.d=m\xff\xfe.example\n" + mail(sender=FROM)
    trust = trusting(raw)
    assert trust.verdict is Verdict.UNVERIFIED
    trust.reason.encode("utf-8")


def test_a_duplicated_trusted_header_with_a_fail_fails() -> None:
    good = f"{OURS}; dmarc=pass header.from=merchant.example"
    raw = with_authres(mail(sender=FROM), good, good, f"{OURS}; dmarc=fail header.from=merchant.example")
    assert trusting(raw).verdict is Verdict.FAILED


def _signed_with(key: SigningKey, edit: Any) -> bytes:
    raw = key.sign(mail(sender=FROM))
    head, _, rest = raw.partition(b"\n i=")
    return bytes(edit(raw, head, rest))


BAD_SIGNATURES = {
    "truncated b=": lambda raw, head, rest: raw[: raw.index(b"b=", raw.index(b"bh=") + 3) + 10] + b"\n\nbody\n",
    "no d= tag": lambda raw, head, rest: raw.replace(b" d=merchant.example;", b"", 1),
    "wrong tag values": lambda raw, head, rest: raw.replace(b"a=rsa-sha256", b"a=rot13", 1),
    "bad version": lambda raw, head, rest: raw.replace(b"v=1;", b"v=7;", 1),
    "garbage": lambda raw, head, rest: b"DKIM-Signature: ;;;===;\n" + raw.split(b"\n", 1)[1],
    "non-UTF-8": lambda raw, head, rest: raw.replace(b"d=merchant.example", b"d=m\xff\xfeant.example", 1),
    "NUL": lambda raw, head, rest: raw.replace(b"s=s1", b"s=s\x001", 1),
    "huge": lambda raw, head, rest: raw.replace(b"v=1;", b"v=1; z=" + b"A" * 100_000 + b";", 1),
    "duplicated": lambda raw, head, rest: raw.split(b"\n\n", 1)[0].split(b"From:")[0] * 8 + raw,
}


@pytest.mark.parametrize("name", sorted(BAD_SIGNATURES))
def test_malformed_dkim_signatures_are_unverified_or_failed_never_raise(name: str, key: SigningKey, dns: Dns) -> None:
    raw = _signed_with(key, BAD_SIGNATURES[name])
    trust = verify(raw, dns)
    parsed = parse_message(raw)
    assert isinstance(trust, SenderTrust) and trust.reason
    # a mangled signature proves nothing; only "duplicated" keeps the original, valid one among its copies
    if name == "duplicated":
        assert trust.verdict is Verdict.VERIFIED
        assert any("DKIM-Signature headers" in item for item in trust.problems)
    else:
        assert trust.verdict is not Verdict.VERIFIED
    assert parsed.from_address in (FROM, None)


def test_mutations_of_signed_mail_never_raise_and_never_verify_a_changed_signed_part(key: SigningKey, dns: Dns) -> None:
    base = with_authres(key.sign(mail(sender=FROM, body="Bank account 1234\n" * 5)), f"{OURS}; dkim=pass")
    rng = random.Random(14)
    keys = DkimKeys(dns)
    for _ in range(300):
        raw = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(raw))
            action = rng.random()
            if action < 0.4:
                raw[at] = rng.randrange(256)
            elif action < 0.7:
                del raw[at : at + rng.randint(1, 40)]
            else:
                raw[at:at] = rng.choice([b"\x00", b"\r\n", b";", b"=", b"(", b"\xff", b"b=", b" d=", b"\n\t"])
        trust = assess(bytes(raw), FROM, trusted_authserv_ids=[OURS], verify_dkim=True, dns=keys)
        assert isinstance(trust, SenderTrust) and trust.reason
        if trust.verdict is Verdict.VERIFIED:  # only when what the signature covers is intact
            # (as relaxed canonicalization reads it: runs of blanks as one, trailing blank lines dropped)
            assert (b"Bank account 1234\n" * 5).rstrip() in re.sub(rb"[ \t]+", b" ", raw)


# ---------------------------------------------------------------------------------------------------
# the corpora of real and broken mail: assess never raises


def _assess_file(path: Path | None) -> None:
    assert path is not None
    raw = path.read_bytes()
    parsed = parse_message(raw)
    keys = DkimKeys(Dns())  # no record for anyone: no real DNS asked
    for ids in ((), ("mx.google.com", "mx.example.com", "example.com")):
        trust = assess(raw, parsed.from_address, trusted_authserv_ids=ids, verify_dkim=True, dns=keys)
        assert isinstance(trust, SenderTrust) and trust.reason
        assert trust.verdict is not Verdict.VERIFIED or trust.source.startswith("authres:")


@pytest.mark.parametrize("path", _params(datasets_dir() / "flanker_eml", "*.eml", "flanker_eml"))
def test_flanker_messages_are_assessed(path: Path | None) -> None:
    _assess_file(path)


@pytest.mark.parametrize("path", _params(datasets_dir() / "rubymail_eml", "*.eml", "rubymail_eml"))
def test_rubymail_messages_are_assessed(path: Path | None) -> None:
    _assess_file(path)


@pytest.mark.parametrize("path", _params(cpython_email_data(), "msg_*.txt", "CPython's test_email data"))
def test_cpython_test_email_messages_are_assessed(path: Path | None) -> None:
    _assess_file(path)


# ---------------------------------------------------------------------------------------------------
# ParsedMessage.trust and the parse step


def test_parse_message_leaves_trust_unverified() -> None:
    assert parse_message(mail()).trust is UNVERIFIED


def test_the_parse_step_assesses_trust_with_the_ingest_settings() -> None:
    raw = with_authres(mail(sender=FROM), f"{OURS}; dmarc=pass header.from=merchant.example")
    parsed, error = parse(raw, 1024, TrustOptions((OURS,)))
    assert error is None and parsed is not None
    assert parsed.trust.verdict is Verdict.VERIFIED
    untrusting, _ = parse(raw, 1024)
    assert untrusting is not None and untrusting.trust is UNVERIFIED


def test_parse_many_verifies_with_the_process_key_cache(key: SigningKey, dns: Dns) -> None:
    # what a parse worker runs: `use_dns` is how a process (a test's worker) replaces the real DNS
    keys = use_dns(dns)
    try:
        raws = [key.sign(mail(sender=FROM)) for _ in range(3)] + [mail(sender=FROM)]
        results = parse_many(raws, 1024, TrustOptions(verify_dkim=True))
        assert default_keys() is keys
    finally:
        use_dns(None)
    verdicts = [parsed.trust.verdict for parsed, _ in results if parsed]
    assert verdicts == [Verdict.VERIFIED] * 3 + [Verdict.UNVERIFIED]
    assert keys.lookups == 1


# ---------------------------------------------------------------------------------------------------
# Failing closed (review of issue 14): what a trusted server reports as a failure is never lost


@pytest.mark.parametrize(
    "header",
    [
        f"{OURS}; spf=fail smtp.helo=[1.2.3.4]; dmarc=fail header.from=merchant.example",
        f"{OURS}; spf=fail smtp.mailfrom=\u00e9@evil.example; dmarc=fail header.from=merchant.example",
        f"{OURS}; dmarc=fail header.from=merchant.example; x=" + "a" * (MAX_AUTHRES_CHARS + 10),
    ],
)
def test_a_dmarc_fail_in_a_trusted_header_the_parser_refuses_still_fails(header: str) -> None:
    raw = with_authres(mail(sender=FROM), header.encode("utf-8").decode("latin-1"))
    trust = trusting(raw)
    assert trust.verdict is Verdict.FAILED, trust
    assert trust.dmarc == "fail" and "read leniently" in trust.source


def test_a_trusted_header_that_cannot_be_read_keeps_a_pass_beside_it_from_verifying() -> None:
    raw = with_authres(
        mail(sender=FROM),
        f"{OURS}; dmarc=pass header.from=merchant.example",
        f"{OURS}; spf=fail smtp.helo=[1.2.3.4]",
    )
    trust = trusting(raw)
    assert trust.verdict is Verdict.UNVERIFIED
    assert "malformed Authentication-Results" in trust.reason


def test_a_trusted_dmarc_fail_for_another_domain_than_the_from_we_read_fails() -> None:
    """The server and we read the author differently (several From addresses, say): its fail stands."""
    raw = with_authres(mail(sender=FROM), f"{OURS}; dmarc=fail header.from=victim.example")
    trust = trusting(raw)
    assert trust.verdict is Verdict.FAILED and "victim.example" in trust.reason


def test_a_trusted_dmarc_fail_on_a_message_without_a_from_domain_fails() -> None:
    raw = with_authres(mail(sender=FROM), f"{OURS}; dmarc=fail header.from=merchant.example")
    assert trusting(raw, sender=None).verdict is Verdict.FAILED
    assert trusting(raw, sender="ana").verdict is Verdict.FAILED


def test_an_idn_from_domain_matches_its_a_label_form() -> None:
    sender = "ana@b\u00fccher.example"
    passed = with_authres(mail(sender=FROM), f"{OURS}; dmarc=pass header.from=xn--bcher-kva.example")
    assert trusting(passed, sender=sender).verdict is Verdict.VERIFIED
    signed = with_authres(mail(sender=FROM), f"{OURS}; dkim=fail header.d=xn--bcher-kva.example")
    assert trusting(signed, sender=sender).verdict is Verdict.FAILED
