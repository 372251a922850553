"""Logging for every process: one line per event, bounded, written off the event loop, free of secrets.

The path of a record:
- structlog and stdlib loggers (uvicorn, SQLAlchemy, asyncio, aioimaplib) both end in the root logger,
  whose only handler is a `BoundedQueueHandler`. In the caller's thread it does only cheap, bounded
  work: it resolves the exception into its type, a short message and a list of frames (module, line,
  function: never a local variable), caps every field, and puts the record on a bounded queue. When the
  queue is full the record is dropped and counted; the caller never waits.
- A `QueueListener` thread redacts secrets (known fields, bearer strings, URL passwords, registered
  secret values in any of their usual encodings), renders the line (console `key=value` or JSON),
  caps it, and writes it. A slow or blocked stderr stalls that thread only; drops are reported by a
  `log_records_dropped` line as soon as writing resumes.
"""

from __future__ import annotations

import atexit
import base64
import copy
import json as jsonlib
import logging
import logging.handlers
import queue
import re
import sys
import threading
import types
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import quote, quote_plus

import structlog

MAX_FIELD_CHARS = 4096  # one field's value, before rendering
MAX_FIELDS = 40
MAX_LINE_CHARS = 16 * 1024  # one rendered line, whatever it carries
MAX_EXCEPTION_MESSAGE = 300  # an exception's message is a hint, not a payload (it may quote input)
MAX_FRAMES = 20  # innermost frames kept per exception
MAX_CHAINED = 3
_OWN_PACKAGES = ("app.", "classifiers.")  # causes followed (`raise ... from`, or raised while handling)
QUEUE_SIZE = 10_000

REDACTED = "[redacted]"
# The marker an exception carries once it is logged with an error id: servers re-log what escapes an
# ASGI app ("Exception in ASGI application"), and that second record is dropped.
LOGGED_MARK = "_routedesk_error_id"

_SECRET_KEY = re.compile(
    r"authorization|cookie|token|passw|pwd|secret|api[_-]?key|credential|private[_-]?key|imap_url|smtp_url",
    re.IGNORECASE,
)
_SCRUBBERS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "Bearer abc", "Basic dXNlcjpwYXNz", as in an Authorization header quoted anywhere.
    (re.compile(r"(?i)\b(bearer|basic)(\s+|%20|\+)[A-Za-z0-9._~+/=%-]{4,}"), r"\1\2" + REDACTED),
    # API tokens carry this prefix (app.users.service.TOKEN_PREFIX) so that leaked ones are easy to find.
    (re.compile(r"rdt_[A-Za-z0-9_-]{4,}"), "rdt_" + REDACTED),
    # scheme://user:password@host (IMAP, SMTP, database URLs)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]*):[^@\s/]*@"), r"\1:" + REDACTED + "@"),
    # password=..., "token": "...", secret: ...
    (
        re.compile(
            r"(?i)\b([a-z_-]*(?:passw\w*|pwd|secret\w*|token|api[_-]?key|authorization))"
            r"(\\?[\"']?\s*[:=]\s*(?:SecretStr\()?\\?[\"']?)(?!\*\*)([^\s\"'\\,;&)}\]]+)"
        ),
        r"\1\2" + REDACTED,
    ),
    # IMAP `LOGIN user password` and SMTP `AUTH PLAIN|LOGIN <base64>` as a protocol trace quotes them.
    (re.compile(r"(?i)(\bLOGIN\s+(?:\"[^\"]*\"|\S+)\s+)(\"(?:[^\"\\]|\\.)*\"|\S+)"), r"\1" + REDACTED),
    (re.compile(r"(?i)(\bAUTH(?:ENTICATE)?\s+(?:PLAIN|LOGIN|XOAUTH2)\s+)\S+"), r"\1" + REDACTED),
)


# --- secret values known to this process ------------------------------------------------------------

_known_lock = threading.Lock()
_known: dict[str, None] = {}  # insertion-ordered: the oldest is forgotten first
_pinned: set[str] = set()  # forms never forgotten (the encryption key's)
_known_pattern: re.Pattern[str] | None = None
MAX_KNOWN_SECRETS = 1000


def register_secret(value: str | None, *, pinned: bool = False) -> None:
    """A value that must never be written (a mailbox password, the encryption key): from now on it is
    redacted wherever it appears in a line, raw or base64-, URL-, JSON- or repr-encoded. Past
    MAX_KNOWN_SECRETS forms the oldest are forgotten, but never a pinned one: the key is registered
    once, at start, and would otherwise be the first to go."""
    global _known_pattern
    if not value or len(value) < 4:
        return  # a very short "secret" would redact ordinary words; such a password is no protection anyway
    forms = {value, repr(value)[1:-1], jsonlib.dumps(value)[1:-1], quote(value, safe=""), quote_plus(value)}
    raw = value.encode("utf-8", "surrogatepass")
    forms |= {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    forms |= {f.rstrip("=") for f in list(forms) if f.endswith("=")}
    with _known_lock:
        if all(form in _known or form in _pinned for form in forms) and (not pinned or forms <= _pinned):
            return
        if pinned:
            _pinned.update(forms)
            for form in forms:
                _known.pop(form, None)
        else:
            for form in forms - _pinned:
                _known.pop(form, None)
                _known[form] = None
        while len(_known) > MAX_KNOWN_SECRETS:
            del _known[next(iter(_known))]
        alternatives = sorted({*_known, *_pinned}, key=len, reverse=True)
        _known_pattern = re.compile("|".join(re.escape(a) for a in alternatives))


def scrub(text: str) -> str:
    """`text` with every secret this module recognises replaced by [redacted]."""
    pattern = _known_pattern
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    for regex, replacement in _SCRUBBERS:
        text = regex.sub(replacement, text)
    return text


def redact(value: Any, key: str | None = None) -> Any:
    """A copy of an event's value with secret fields blanked and secrets in text scrubbed."""
    if key is not None and _SECRET_KEY.search(key) and value not in (None, "", False, True):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {str(k): redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


# --- the caller's side: cheap and bounded ---------------------------------------------------------------


def _cap(text: str, limit: int = MAX_FIELD_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more chars]"


def _bounded(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _cap(value)
    if isinstance(value, BaseException):
        return exception_message(value)
    try:
        return _cap(repr(value)[: MAX_FIELD_CHARS * 2])
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def exception_message(exc: BaseException) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors) and type(exc).__name__.endswith("ValidationError"):
        # pydantic's message quotes every offending input value: name the fields and the rule only.
        try:
            found = list(errors())
        except Exception:
            found = []
        parts = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('type', '')}" for e in found[:5]]
        return _cap(f"{len(found)} validation error(s): " + "; ".join(parts), MAX_EXCEPTION_MESSAGE)
    try:
        text = str(exc)
    except Exception:
        return "<unprintable message>"
    first = text[: MAX_EXCEPTION_MESSAGE * 2].split("\n", 1)[0]
    return _cap(first, MAX_EXCEPTION_MESSAGE)


def _frames(tb: types.TracebackType | None) -> list[str]:
    """Where the exception went, outermost first: module, line and function, never values or source.
    A long list keeps the project's own frames and the innermost ones, and says how many it left out."""
    frames: list[tuple[bool, str]] = []
    while tb is not None:
        code = tb.tb_frame.f_code
        module = tb.tb_frame.f_globals.get("__name__", code.co_filename)
        own = isinstance(module, str) and module.startswith(_OWN_PACKAGES)
        frames.append((own, f"{module}:{tb.tb_lineno} {code.co_name}"))
        tb = tb.tb_next
    if len(frames) <= MAX_FRAMES:
        return [text for _own, text in frames]
    innermost = MAX_FRAMES // 2
    keep = {i for i, (own, _text) in enumerate(frames[:-innermost]) if own}
    keep = set(sorted(keep)[-(MAX_FRAMES - innermost) :]) | set(range(len(frames) - innermost, len(frames)))
    kept: list[str] = []
    skipped = 0
    for i, (_own, text) in enumerate(frames):
        if i in keep:
            if skipped:
                kept.append(f"... {skipped} frames")
                skipped = 0
            kept.append(text)
        else:
            skipped += 1
    return kept


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """An exception as a log field: type, short message, frames, and the exceptions it was raised from."""
    described: dict[str, Any] = {}
    current: BaseException | None = exc
    target = described
    for _depth in range(MAX_CHAINED + 1):
        if current is None:
            break
        kind = type(current)
        target["type"] = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        target["message"] = exception_message(current)
        target["frames"] = _frames(current.__traceback__)
        following = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
        if following is None:
            break
        target["cause"] = {}
        target = target["cause"]
        current = following
    return described


def _exception_of(exc_info: Any) -> BaseException | None:
    if exc_info is None or exc_info is False:
        return None
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple):
        return exc_info[1] if len(exc_info) > 1 and isinstance(exc_info[1], BaseException) else None
    return sys.exc_info()[1]  # exc_info=True: the exception being handled, in the caller's thread


def _capture_exception(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """structlog processor, in the caller: exc_info becomes a described exception, every field is bounded."""
    exc = _exception_of(event_dict.pop("exc_info", None))
    event_dict.pop("stack_info", None)
    first = [k for k in ("event", "level", "timestamp") if k in event_dict]
    keys = first + [k for k in event_dict if k not in first][: MAX_FIELDS - len(first)]
    bounded = {k: _bounded(event_dict[k]) for k in keys}
    if exc is not None:
        bounded["exception"] = describe_exception(exc)
    return bounded


def _to_stdlib(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """structlog's last processor: the event dict becomes the stdlib record's message."""
    return (event_dict,), {}


class BoundedQueueHandler(logging.handlers.QueueHandler):
    """Prepares records cheaply in the caller and never blocks it: a full queue drops and counts."""

    def __init__(self, q: queue.Queue[Any]) -> None:
        super().__init__(q)
        self.dropped = 0

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(record.msg, dict):  # from structlog, already bounded
            payload = dict(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:
                message = str(record.msg)
            payload = {
                "event": _cap(message),
                "level": record.levelname.lower(),
                "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat().replace("+00:00", "Z"),
                "logger": record.name,
            }
        if exc is not None:
            payload["exception"] = describe_exception(exc)
        prepared = copy.copy(record)
        prepared.msg, prepared.args, prepared.exc_info, prepared.exc_text, prepared.stack_info = (
            payload,
            None,
            None,
            None,
            None,
        )
        return prepared

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and getattr(exc, LOGGED_MARK, None) and not isinstance(record.msg, dict):
            return  # already logged once, with its error id; this is a server re-logging it
        try:
            self.queue.put_nowait(self.prepare(record))
        except queue.Full:
            self.dropped += 1
        except Exception:
            self.dropped += 1


class LineWriter(logging.Handler):
    """The listener thread's handler: redact, render one line, cap it, write it."""

    def __init__(self, stream: IO[str], *, json: bool, source: BoundedQueueHandler) -> None:
        super().__init__()
        self.stream, self.json, self.source = stream, json, source
        self.reported_drops = 0
        self.write_errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            dropped = self.source.dropped
            if dropped > self.reported_drops:
                notice = {"event": "log_records_dropped", "level": "warning", "dropped": dropped - self.reported_drops}
                self.reported_drops = dropped
                self._write(render(notice, json=self.json))
            payload = record.msg if isinstance(record.msg, dict) else {"event": str(record.msg)}
            self._write(render(redact(payload), json=self.json))
        except Exception:
            self.write_errors += 1  # a closed or broken stream: nothing sensible can be written about it

    def _write(self, line: str) -> None:
        line = _cap(line, MAX_LINE_CHARS).encode("utf-8", "backslashreplace").decode("utf-8")
        self.stream.write(line + "\n")
        self.stream.flush()

    def handleError(self, record: logging.LogRecord) -> None:
        self.write_errors += 1


def _flat_exception(described: Mapping[str, Any]) -> str:
    parts: list[str] = []
    current: Mapping[str, Any] | None = described
    while current:
        frames = " > ".join(current.get("frames", ()))
        parts.append(f"{current.get('type')}: {current.get('message')}" + (f" [{frames}]" if frames else ""))
        current = current.get("cause")
    return " <- caused by ".join(parts)


def _console_value(value: Any) -> str:
    if isinstance(value, str):
        if value and not any(c.isspace() or c in "\"'=\\" or not c.isprintable() for c in value):
            return value
        return jsonlib.dumps(value, ensure_ascii=False)
    return jsonlib.dumps(value, ensure_ascii=False, default=str)


def render(payload: Mapping[str, Any], *, json: bool) -> str:
    """One line, whatever the payload holds: newlines inside values are escaped."""
    if json:
        return jsonlib.dumps(payload, ensure_ascii=False, default=str)
    fields = dict(payload)
    timestamp = str(fields.pop("timestamp", ""))
    level = str(fields.pop("level", "info"))
    event = str(fields.pop("event", "")).replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    exception = fields.pop("exception", None)
    line = f"{timestamp} [{level:<8}] {event}"
    rest = " ".join(f"{k}={_console_value(v)}" for k, v in fields.items())
    if rest:
        line += "  " + rest
    if isinstance(exception, Mapping):
        line += " exception=" + _console_value(_flat_exception(exception))
    return line


# --- configuration -------------------------------------------------------------------------------------

_NOISY = ("aioimaplib", "pymap", "asyncio", "mail.log", "alembic", "httpx", "httpcore", "uvicorn.error")
# Loggers whose lower levels quote protocol traffic (mail bodies, credentials): never below WARNING.
_NEVER_VERBOSE = (
    "aioimaplib",
    "pymap",
    "mail.log",
    "aiosmtplib",
    "sqlalchemy.engine",
    "asyncpg",
    "aiosqlite",  # every statement with its parameters: mail bodies, token hashes
    "multipart",
    "python_multipart",
)

_active: tuple[logging.handlers.QueueListener, BoundedQueueHandler, LineWriter] | None = None
_active_lock = threading.Lock()


def configure_logging(
    level: str = "info", *, json: bool = False, stream: IO[str] | None = None, queue_size: int = QUEUE_SIZE
) -> None:
    """Send every log record of this process through one bounded queue to a writer thread.

    Logs go to stderr (or `stream`) so that a command's stdout stays its result (poll --once's JSON line).
    Calling it again replaces the previous configuration, after writing what that one had queued."""
    global _active
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    records: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
    handler = BoundedQueueHandler(records)
    writer = LineWriter(stream if stream is not None else sys.stderr, json=json, source=handler)
    listener = logging.handlers.QueueListener(records, writer, respect_handler_level=False)
    with _active_lock:
        stop_logging()
        root = logging.getLogger()
        for old in root.handlers[:]:
            root.removeHandler(old)
        root.addHandler(handler)
        root.setLevel(numeric)
        for noisy in _NOISY:
            logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
        for name in _NEVER_VERBOSE:
            logging.getLogger(name).setLevel(max(numeric, logging.WARNING))
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                _capture_exception,
                _to_stdlib,
            ],
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            logger_factory=lambda *_args: logging.getLogger("routedesk"),
            cache_logger_on_first_use=False,
        )
        listener.start()
        _active = (listener, handler, writer)


def stop_logging(timeout: float = 5.0) -> None:
    """Write what is queued and stop the writer thread (at exit, or before configuring again)."""
    global _active
    current, _active = _active, None
    if current is None:
        return
    listener, handler, _writer = current
    logging.getLogger().removeHandler(handler)
    thread = listener._thread
    if thread is None:
        return
    try:
        handler.queue.put(listener._sentinel, timeout=timeout)  # type: ignore[attr-defined]
    except queue.Full:
        return  # the writer is stuck on its stream; it is a daemon thread and dies with the process
    thread.join(timeout)
    listener._thread = None


def flush_logs(timeout: float = 5.0) -> None:
    """Wait (at most `timeout`) until every record queued so far is written. For tests and for exit."""
    current = _active
    if current is None:
        return
    records = current[1].queue
    done = threading.Event()

    def wait() -> None:
        records.join()  # type: ignore[attr-defined]
        done.set()

    threading.Thread(target=wait, daemon=True).start()
    done.wait(timeout)


atexit.register(stop_logging)
