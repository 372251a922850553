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

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

import authres
import dkim
import dkim.dnsplug
from publicsuffixlist import PublicSuffixList

from mailtext.headers import split_entity


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
    # False when nothing was there to assess with: no trusted authserv-id and DKIM verification off.
    # Such a verdict is `unverified` here but stored as not assessed (NULL): every message of a desk
    # that checks nothing would otherwise be marked, and every agent action warned, for nothing.
    assessed: bool = True


UNVERIFIED = SenderTrust(Verdict.UNVERIFIED, "sender trust not assessed (no trusted authserv-id)", assessed=False)


# ---------------------------------------------------------------------------------------------------
# assessing a message
#
# Only the `Authentication-Results` headers whose authserv-id is trusted are read: anyone can write
# one, so the organisation's border MTA must remove (or rename) copies claiming its own authserv-id
# that arrive from outside, as RFC 8601 section 5 asks of it (Postfix with OpenDKIM/OpenDMARC, Exim and
# the hosted providers do). Every trusted header of the message counts: one MTA often writes several
# (SPF, DKIM, DMARC each from its own milter).
#
# The verdict follows the contract above, with failures first: a DMARC fail, or a DKIM signature aligned
# with the From domain that fails (reported by a trusted server or found by our own verification), is
# `failed` even beside a pass; otherwise a DMARC pass (for the From domain) or an aligned DKIM pass is
# `verified`; anything else is `unverified`, with the reason.

# A longer header is not read (reason noted): an MTA writes a few hundred bytes, and authres would
# spend half a second on 100 KB of results.
MAX_AUTHRES_CHARS = 16 * 1024
MAX_AUTHRES_HEADERS = 20  # more than this many trusted headers: the first ones are read
MAX_DKIM_SIGNATURES = 5  # signatures verified per message; the rest are noted, not checked
# Public keys (DKIM TXT records) are kept this long in each parse worker, so a busy mailbox looks a
# key up about once per selector and TTL rather than once per message. RFC 6376 lets a verifier cache
# keys per the DNS TTL, which dkimpy's lookup does not return; an hour is a common TTL for DKIM keys.
KEY_CACHE_SECONDS = 3600.0
KEY_CACHE_ENTRIES = 4096

DKIM_RESULTS = frozenset({"pass", "fail", "neutral", "none", "policy", "temperror", "permerror"})
SPF_RESULTS = frozenset({"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror", "policy"})
DMARC_RESULTS = frozenset({"pass", "fail", "none", "temperror", "permerror"})

# A DNS TXT lookup: the name (e.g. "sel._domainkey.example.com"), the record's text, or None when there is
# none; an exception for a failure (timeout, no server), which makes the signature's result temperror.
DnsLookup = Callable[[str], "str | bytes | None"]


@dataclass(slots=True, frozen=True)
class _Dkim:
    result: str
    domain: str | None
    source: str
    reason: str = ""


class DkimKeys:
    """DKIM public-key records by (selector, domain), looked up through `lookup` (dnspython through
    dkimpy's own lookup when None) and kept `ttl` seconds; failed lookups are not kept."""

    def __init__(
        self,
        lookup: DnsLookup | None = None,
        *,
        ttl: float = KEY_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = KEY_CACHE_ENTRIES,
    ) -> None:
        self.lookup = lookup
        self.ttl = ttl
        self.clock = clock
        self.max_entries = max_entries
        self.lookups = 0  # how many times the lookup ran (the cache's misses), for tests and benchmarks
        self._cache: dict[str, tuple[float, bytes | None]] = {}
        self.errors: dict[str, str] = {}  # name -> why its last lookup failed

    def txt(self, name: bytes, timeout: int = 5) -> bytes | None:
        """dkimpy's `dnsfunc`."""
        key = name.decode("ascii", "replace").rstrip(".").lower()
        now = self.clock()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        self.lookups += 1
        try:
            if self.lookup is None:
                answer: str | bytes | None = dkim.dnsplug.get_txt(name, timeout=timeout)
            else:
                answer = self.lookup(key)
        except Exception as exc:  # a failed lookup: temperror for this signature, never a crash
            self.errors[key] = f"{type(exc).__name__}: {exc}"[:200]
            raise dkim.DnsTimeoutError(self.errors[key]) from exc
        record = answer.encode("utf-8", "replace") if isinstance(answer, str) else answer
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[key] = (now + self.ttl, record)
        return record


class _DkimLog:
    """The logger dkimpy writes to: it reports key and DNS problems only there (verify returns False)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def isEnabledFor(self, level: int) -> bool:  # logging's name
        return False

    def debug(self, *args: object, **kwargs: object) -> None:
        pass

    info = debug

    def warning(self, message: object, *args: object, **kwargs: object) -> None:
        self.errors.append(str(message)[:200])

    error = warning


_PSL: PublicSuffixList | None = None


def organisational_domain(domain: str) -> str:
    """The registrable domain (RFC 7489 3.2) by the Public Suffix List publicsuffixlist ships; a name that
    is itself a public suffix, or has no dot, is its own."""
    global _PSL
    if _PSL is None:
        _PSL = PublicSuffixList()
    domain = domain.strip().rstrip(".").lower()
    try:
        return _PSL.privatesuffix(domain) or domain
    except Exception:  # a name the list's code cannot take (odd characters): compared as written
        return domain


def aligned(domain: str | None, from_domain: str | None) -> bool:
    """Relaxed alignment (RFC 7489 3.1): the same organisational domain."""
    if not domain or not from_domain:
        return False
    return organisational_domain(domain) == organisational_domain(from_domain)


def assess(
    raw: bytes,
    from_address: str | None,
    *,
    trusted_authserv_ids: Iterable[str],
    verify_dkim: bool = False,
    dns: DkimKeys | DnsLookup | None = None,
) -> SenderTrust:
    """The sender-trust verdict of a message. Never raises: bad input is `unverified`, with the reason."""
    try:
        return _assess(raw, from_address, trusted_authserv_ids, verify_dkim, dns)
    except Exception as exc:  # never expected; a message must not be lost to its trust
        return SenderTrust(Verdict.UNVERIFIED, f"trust not assessed: {type(exc).__name__}"[:200])


def _assess(
    raw: bytes,
    from_address: str | None,
    trusted_authserv_ids: Iterable[str],
    verify_dkim: bool,
    dns: DkimKeys | DnsLookup | None,
) -> SenderTrust:
    trusted = {item.strip().lower() for item in trusted_authserv_ids if item.strip()}
    if not trusted and not verify_dkim:
        return UNVERIFIED  # nothing to judge a sender by: not assessed
    problems: list[str] = []
    headers, _body = split_entity(raw, [])
    from_domain = _domain_of(from_address)

    spf: str | None = None
    dmarcs: list[tuple[str, str | None, str]] = []  # result, header.from, source
    dkims: list[_Dkim] = []
    unreadable: list[str] = []  # trusted headers that could not be read
    if trusted:
        spf, dmarcs, dkims = _read_authres(headers, trusted, problems, unreadable)
    if verify_dkim:
        keys = dns if isinstance(dns, DkimKeys) else default_keys() if dns is None else DkimKeys(dns)
        dkims.extend(_verify(raw, headers, keys, problems, from_domain))

    # A trusted server's DMARC fail stands whatever From we read: for the domain it names (the server
    # and we may read the author differently: several From addresses, IDN forms), or for none.
    failed_dmarc = next((result for result in dmarcs if result[0] == "fail"), None)
    if failed_dmarc is not None:
        named = failed_dmarc[1] or from_domain or "the From domain"
        reason = f"DMARC fail for {named} ({failed_dmarc[2]})"
        return _trust(Verdict.FAILED, reason, spf, dkims, failed_dmarc, False, problems)

    if from_domain is None:
        reason = "no From address to check" if from_address is None else "From address has no domain"
        return _trust(Verdict.UNVERIFIED, reason, spf, dkims, dmarcs[0] if dmarcs else None, None, problems)

    for result in dmarcs:
        if result[1] is not None and result[1] != from_domain:
            problems.append(f"DMARC result for {result[1]}, not the From domain {from_domain}: ignored")
    dmarcs = [result for result in dmarcs if result[1] is None or result[1] == from_domain]
    # a pass first, then whatever else was reported (a fail has been acted on above)
    dmarcs.sort(key=lambda result: {"pass": 0}.get(result[0], 1))
    dmarc = dmarcs[0] if dmarcs else None

    aligned_dkims = [item for item in dkims if aligned(item.domain, from_domain)]
    failing = [item for item in aligned_dkims if item.result == "fail"]
    passing = [item for item in aligned_dkims if item.result == "pass"]
    if failing:
        item = failing[0]
        reason = f"DKIM signature of {item.domain} fails ({item.source}){_why(item)}"
        return _trust(Verdict.FAILED, reason, spf, failing, dmarc, True, problems)
    if unreadable:
        return _trust(Verdict.UNVERIFIED, unreadable[0], spf, dkims, dmarc, None, problems)
    if dmarc is not None and dmarc[0] == "pass":
        reason = f"DMARC pass for {from_domain} ({dmarc[2]})"
        return _trust(Verdict.VERIFIED, reason, spf, passing or dkims, dmarc, True, problems)
    if passing:
        item = passing[0]
        reason = f"DKIM pass for {item.domain}, aligned with {from_domain} ({item.source})"
        return _trust(Verdict.VERIFIED, reason, spf, passing, dmarc, True, problems)

    unchecked = [item for item in dkims if item.result == "none" and item.reason.startswith("not checked")]
    if unchecked and not aligned_dkims:
        item = unchecked[0]
        reason = f"DKIM signature of {item.domain} not aligned with {from_domain}: not checked"
        return _trust(Verdict.UNVERIFIED, reason, spf, unchecked, dmarc, False, problems)
    other = [item for item in dkims if item.result == "pass"]
    if other:
        reason = f"DKIM pass for {other[0].domain}, not aligned with {from_domain}"
        return _trust(Verdict.UNVERIFIED, reason, spf, other, dmarc, False, problems)
    if aligned_dkims:
        item = aligned_dkims[0]
        reason = f"DKIM {item.result} for {item.domain} ({item.source}){_why(item)}"
        return _trust(Verdict.UNVERIFIED, reason, spf, aligned_dkims, dmarc, None, problems)
    if dmarc is not None or spf is not None or dkims:
        return _trust(Verdict.UNVERIFIED, "no aligned DMARC or DKIM pass", spf, dkims, dmarc, None, problems)
    if problems:
        return _trust(Verdict.UNVERIFIED, problems[0], spf, dkims, dmarc, None, problems)
    reason = "no Authentication-Results from a trusted authserv-id" if trusted else "no DKIM signature"
    return _trust(Verdict.UNVERIFIED, reason, spf, dkims, dmarc, None, problems)


def _why(item: _Dkim) -> str:
    return f": {item.reason}" if item.reason else ""


def _trust(
    verdict: Verdict,
    reason: str,
    spf: str | None,
    dkims: list[_Dkim],
    dmarc: tuple[str, str | None, str] | None,
    is_aligned: bool | None,
    problems: list[str],
) -> SenderTrust:
    dkim_result = dkims[0] if dkims else None
    # where the deciding result came from, else the first result seen
    if dmarc is not None and (reason.startswith("DMARC") or dkim_result is None):
        source = dmarc[2]
    else:
        source = dkim_result.source if dkim_result is not None else ""
    return SenderTrust(
        verdict=verdict,
        reason=_text(reason, 300),
        spf=spf,
        dkim=dkim_result.result if dkim_result is not None else None,
        dkim_domain=_text(dkim_result.domain, 255) if dkim_result is not None and dkim_result.domain else None,
        dmarc=dmarc[0] if dmarc is not None else None,
        aligned=is_aligned,
        source=_text(source, 300),
        problems=tuple(_text(item, 300) for item in dict.fromkeys(problems))[:20],
    )


def _text(value: str, limit: int) -> str:
    # clean text for storage: no NUL, no lone surrogate, bounded
    value = value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _domain_of(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return normal_domain(address.rpartition("@")[2].strip().strip(">"))


def normal_domain(domain: str | None) -> str | None:
    """A domain as compared here: lower case, no trailing dot, in A-labels (IDNA), so that a From of
    bücher.de and a server's header.from=xn--bcher-kva.de are the same domain."""
    domain = (domain or "").strip().rstrip(".").lower()
    if not domain:
        return None
    if not domain.isascii():
        try:
            return domain.encode("idna").decode("ascii")
        except (UnicodeError, ValueError):  # not a name IDNA can write: compared as written
            return domain
    return domain


# ---------------------------------------------------------------------------------------------------
# Authentication-Results


_LENIENT_DMARC_FAIL = re.compile(r"(?:^|;)\s*dmarc\s*=\s*fail\b", re.IGNORECASE)


def _leading_id(value: str) -> str:
    """The authserv-id a header starts with, read without a parser: up to the first ';' or space."""
    head = _unfold(value).split(";", 1)[0].strip()
    return head.split(None, 1)[0].lower() if head else ""


def _read_authres(
    headers: list[tuple[str, str, str]], trusted: set[str], problems: list[str], unreadable: list[str]
) -> tuple[str | None, list[tuple[str, str | None, str]], list[_Dkim]]:
    spf: str | None = None
    dmarcs: list[tuple[str, str | None, str]] = []
    dkims: list[_Dkim] = []
    read = 0
    for _name, lower, value in headers:
        if lower != "authentication-results":
            continue
        folded = value.lower()
        if not any(item in folded for item in trusted):
            continue  # cheap: authres parses only headers that may be trusted ones
        skipped = None
        if len(value) > MAX_AUTHRES_CHARS:
            skipped = f"Authentication-Results longer than {MAX_AUTHRES_CHARS} characters: not read"
        elif "\x00" in value:
            skipped = "Authentication-Results with a NUL character: not read"
        elif read >= MAX_AUTHRES_HEADERS:
            skipped = f"more than {MAX_AUTHRES_HEADERS} trusted Authentication-Results: the rest not read"
        else:
            try:
                parsed = authres.AuthenticationResultsHeader.parse_value(_unfold(value))
            except Exception as exc:  # authres raises its own SyntaxError, and RecursionError on deep comments
                skipped = f"malformed Authentication-Results: {type(exc).__name__}: {exc}"[:200]
        if skipped is not None:
            # Fail closed: a trusted server's header we cannot read may hold a failure (its values come
            # partly from the sender, who can make it unreadable). Its failures are read leniently; the
            # message is never verified beside it.
            authserv_id = _leading_id(value)
            if authserv_id in trusted:
                problems.append(skipped)
                unreadable.append(skipped)
                if _LENIENT_DMARC_FAIL.search(_unfold(value)):
                    dmarcs.append(("fail", None, f"authres:{authserv_id} (read leniently)"))
            continue
        authserv_id = str(parsed.authserv_id or "").lower()
        if authserv_id not in trusted:
            continue
        read += 1
        source = f"authres:{authserv_id}"
        for result in parsed.results:
            method = str(result.method or "").lower()
            word = str(result.result or "").lower()
            if method == "spf":
                if word not in SPF_RESULTS:
                    problems.append(f"Authentication-Results: unknown spf result {word!r}")
                elif spf is None:
                    spf = word
            elif method == "dkim":
                if word not in DKIM_RESULTS:
                    problems.append(f"Authentication-Results: unknown dkim result {word!r}")
                    continue
                dkims.append(_Dkim(word, _dkim_domain(result), source, _reason_of(result)))
            elif method == "dmarc":
                if word not in DMARC_RESULTS:
                    problems.append(f"Authentication-Results: unknown dmarc result {word!r}")
                else:
                    header_from = _property(result, "header", "from")
                    dmarcs.append((word, _domain_of("@" + header_from) if header_from else None, source))
    return spf, dmarcs, dkims


def _unfold(value: str) -> str:
    return value.replace("\r", "").replace("\n", "")


def _property(result: object, kind: str, name: str) -> str | None:
    for item in getattr(result, "properties", None) or ():
        if str(getattr(item, "type", "")).lower() == kind and str(getattr(item, "name", "")).lower() == name:
            value = str(getattr(item, "value", "") or "").strip()
            return value or None
    return None


def _dkim_domain(result: object) -> str | None:
    domain = _property(result, "header", "d")
    if domain is None:
        identity = _property(result, "header", "i")
        domain = identity.rpartition("@")[2] if identity else None
    return normal_domain(domain)


def _reason_of(result: object) -> str:
    return str(getattr(result, "reason", None) or "")[:200]


# ---------------------------------------------------------------------------------------------------
# DKIM verified here, by dkimpy

_KEYS: DkimKeys | None = None


def default_keys() -> DkimKeys:
    """The process's key cache, which `assess` uses when given no `dns`: over the real DNS (dkimpy's
    lookup, dnspython) unless `use_dns` replaced it."""
    global _KEYS
    if _KEYS is None:
        _KEYS = DkimKeys()
    return _KEYS


def use_dns(lookup: DnsLookup | None) -> DkimKeys:
    """Replace the process's key cache by one over `lookup` (None: the real DNS), emptied. For a process
    that must not ask the real DNS, such as a test's or a benchmark's parse worker (its initializer)."""
    global _KEYS
    _KEYS = DkimKeys(lookup)
    return _KEYS


_SIGNING_DOMAIN = re.compile(r"(?:^|;)\s*d\s*=\s*([^;\s]+)", re.IGNORECASE)


def _verify(
    raw: bytes, headers: list[tuple[str, str, str]], keys: DkimKeys, problems: list[str], from_domain: str | None
) -> list[_Dkim]:
    signatures = [value for _name, lower, value in headers if lower == "dkim-signature"]
    count = len(signatures)
    if not count:
        return []
    if count > MAX_DKIM_SIGNATURES:
        problems.append(f"{count} DKIM-Signature headers: the first {MAX_DKIM_SIGNATURES} verified")
    log = _DkimLog()
    try:
        verifier = dkim.DKIM(raw, logger=log)
    except Exception as exc:
        problems.append(f"DKIM: message not readable: {type(exc).__name__}: {exc}"[:200])
        return []
    found: list[_Dkim] = []
    for index in range(min(count, MAX_DKIM_SIGNATURES)):
        signer = _SIGNING_DOMAIN.search(_unfold(signatures[index]))
        domain_named = normal_domain(signer.group(1)) if signer else None
        if domain_named is not None and not aligned(domain_named, from_domain):
            # It could not change the verdict, and its key lookup is the signer's to slow down.
            found.append(_Dkim("none", domain_named, "dkimpy", f"not checked: {domain_named} is not aligned with From"))
            continue
        log.errors.clear()
        keys.errors.clear()
        verifier.domain = None
        try:
            ok = verifier.verify(idx=index, dnsfunc=keys.txt)
        except dkim.ValidationError as exc:
            domain = _bytes_text(verifier.domain)
            if str(exc).startswith("body hash mismatch"):  # the body changed since it was signed
                found.append(_Dkim("fail", domain, "dkimpy", "body hash mismatch"))
            else:  # a signature dkimpy refuses to check (expired, required tags missing)
                reason = f"DKIM-Signature: {exc}"[:200]
                problems.append(reason)
                found.append(_Dkim("permerror", domain, "dkimpy", reason))
            continue
        except Exception as exc:  # dkimpy's DKIMException for bad tags, and whatever bad bytes provoke
            domain = _bytes_text(verifier.domain)
            reason = f"DKIM-Signature: {type(exc).__name__}: {exc}"[:200]
            problems.append(reason)
            found.append(_Dkim("permerror", domain, "dkimpy", reason))
            continue
        domain = _bytes_text(verifier.domain)
        if ok:
            found.append(_Dkim("pass", domain, "dkimpy"))
        elif keys.errors:
            reason = "key lookup failed: " + next(iter(keys.errors.values()))
            found.append(_Dkim("temperror", domain, "dkimpy", reason))
        elif log.errors:
            found.append(_Dkim("permerror", domain, "dkimpy", log.errors[0]))
        else:
            found.append(_Dkim("fail", domain, "dkimpy", "signature does not verify"))
    return found


def _bytes_text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip().rstrip(".").lower() or None
    return None
