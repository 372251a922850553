"""Parsing fetched mail before the transaction that stores it.

Its own small module because the poller's parse worker process imports it: it must not pull in the
database, the web framework or the classifier, which would cost that process seconds to start."""

from __future__ import annotations

import ctypes
import hashlib
import os
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from mailtext.message import MessageParseError, ParsedMessage, parse_message
from mailtext.trust import Verdict, assess


@dataclass(slots=True, frozen=True)
class TrustOptions:
    """The ingest settings the sender-trust assessment needs, as plain values: they travel to the parse
    worker processes (spawned, so nothing else of the parent's is there) with every batch."""

    trusted_authserv_ids: tuple[str, ...] = ()
    verify_dkim: bool = False

    @property
    def active(self) -> bool:
        return bool(self.trusted_authserv_ids) or self.verify_dkim


@dataclass(slots=True)
class Incoming:
    """One fetched message, parsed (or not) before the transaction that stores it."""

    raw: bytes
    uid: int | None
    size: int
    sha256: str
    parsed: ParsedMessage | None
    error: str | None = None
    truncated: bool = False


def prepare(
    raw: bytes,
    uid: int | None,
    *,
    size: int | None = None,
    max_attachment_bytes: int,
    truncated: bool = False,
    trust: TrustOptions | None = None,
) -> Incoming:
    """Parse outside the database transaction (and, in the poller, outside the event loop's process)."""
    return _incoming(raw, uid, size, truncated, parse(raw, max_attachment_bytes, trust))


def parse(
    raw: bytes, max_attachment_bytes: int, trust: TrustOptions | None = None, truncated: bool = False
) -> tuple[ParsedMessage | None, str | None]:
    """The parsed message, or why there is none: a message that cannot be parsed is kept, not dropped.
    With `trust`, the message's sender trust is assessed too (mailtext.trust.assess; it never raises).
    DKIM keys are cached per process (mailtext.trust.default_keys), so per parse worker. A message kept
    `truncated` at the size limit is not DKIM-verified here: its cut body cannot match its hash, which
    says nothing of its sender (the trusted server's results, from the whole message, still count)."""
    try:
        parsed = parse_message(raw, max_attachment_bytes=max_attachment_bytes)
    except MessageParseError as exc:
        return None, str(exc) or "unparseable message"
    except Exception as exc:
        return None, f"parser error: {type(exc).__name__}: {exc}"[:2000]
    if trust is not None and trust.active:
        verify = trust.verify_dkim and not truncated
        parsed.trust = assess(
            raw, parsed.from_address, trusted_authserv_ids=trust.trusted_authserv_ids, verify_dkim=verify
        )
        if trust.verify_dkim and truncated and parsed.trust.verdict == Verdict.UNVERIFIED:
            reason = "message truncated at the size limit: DKIM not checked"
            parsed.trust = replace(parsed.trust, reason=reason, assessed=True)
    return parsed, None


def parse_many(
    raws: Sequence[bytes],
    max_attachment_bytes: int,
    trust: TrustOptions | None = None,
    truncated: Sequence[bool] = (),
) -> list[tuple[ParsedMessage | None, str | None]]:
    """What a parse worker process runs: only the results travel back, not the raw bytes again."""
    cut = list(truncated) or [False] * len(raws)
    return [parse(raw, max_attachment_bytes, trust, was_cut) for raw, was_cut in zip(raws, cut, strict=True)]


def parse_batch(
    fetched: Sequence[tuple[int, bytes, int, bool]],
    max_attachment_bytes: int,
    results: Sequence[tuple[ParsedMessage | None, str | None]] | None = None,
    trust: TrustOptions | None = None,
) -> list[Incoming]:
    """Fetched messages as Incoming, parsed here unless `results` (from `parse_many`) are given."""
    if results is None:
        results = [parse(raw, max_attachment_bytes, trust, truncated) for _uid, raw, _size, truncated in fetched]
    return [
        _incoming(raw, uid, size, truncated, result)
        for (uid, raw, size, truncated), result in zip(fetched, results, strict=True)
    ]


def _incoming(
    raw: bytes, uid: int | None, size: int | None, truncated: bool, result: tuple[ParsedMessage | None, str | None]
) -> Incoming:
    parsed, error = result
    return Incoming(
        raw=raw,
        uid=uid,
        size=size or len(raw),
        sha256=hashlib.sha256(raw).hexdigest(),
        parsed=parsed,
        error=error,
        truncated=truncated,
    )


# linux/prctl.h
_PR_SET_PDEATHSIG = 1
PARENT_CHECK_SECONDS = 1.0


def die_with_parent(parent_pid: int) -> None:
    """Initializer of a parse worker process: it ends when the process that started it ends, however
    that one ended (kill -9 included), instead of waiting forever on a pipe nobody will write to.

    On Linux the kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG); everywhere, a thread
    also checks every PARENT_CHECK_SECONDS that the parent is still the one that started us. Once the
    worker is gone, multiprocessing's resource tracker sees its pipe close and exits too."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no usable libc: the thread below still watches
            pass
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()


def _watch_parent(parent_pid: int) -> None:
    stopped = threading.Event()
    while not stopped.wait(PARENT_CHECK_SECONDS):
        if os.getppid() != parent_pid:
            os._exit(1)
