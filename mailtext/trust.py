"""Who sent a message, as far as the mail system can tell: the trust verdict of issue 14.

This module is the contract between two halves of the work:

- assessing (this module, run in the parse worker beside `parse_message`): read the
  `Authentication-Results` headers (RFC 8601) written by an authserv-id the admin trusts
  (`ingest.trusted_authserv_ids`) and nothing else, optionally verify DKIM signatures with dkimpy
  (`ingest.verify_dkim`), and decide a verdict;
- acting on it (the tickets and inbox domains): store it with the message, keep `failed` mail out of
  existing tickets, mark `unverified` mail in the thread, count verdicts in the reports.

The verdict, by the issue's rule:

- `verified`: an aligned DMARC pass, or a DKIM pass whose signing domain is aligned with the From domain;
- `failed`: a DMARC fail, or an aligned DKIM signature that fails;
- `unverified`: anything else (no results, none from a trusted authserv-id, malformed headers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Verdict(StrEnum):
    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    FAILED = "failed"


@dataclass(slots=True, frozen=True)
class SenderTrust:
    verdict: Verdict
    # Why, in a short sentence an agent can read ("DMARC pass for example.com (mx.ours.example)",
    # "no Authentication-Results from a trusted authserv-id", "DKIM-Signature: truncated b= tag").
    reason: str
    spf: str | None = None  # the result word: pass, fail, softfail, neutral, none, temperror, permerror
    dkim: str | None = None
    dkim_domain: str | None = None  # the d= of the signature the dkim result is about
    dmarc: str | None = None
    # Whether the From domain is aligned (relaxed, RFC 7489 3.1) with the passing DKIM domain or, for
    # DMARC, as the trusted server reported; None when there was nothing to align with.
    aligned: bool | None = None
    # Where the results came from: "authres:<authserv-id>", "dkimpy", or "" when none.
    source: str = ""
    problems: tuple[str, ...] = field(default_factory=tuple)  # malformed headers seen, for the log


UNVERIFIED = SenderTrust(Verdict.UNVERIFIED, "no authentication results")
