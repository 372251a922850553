"""The process's real logging configuration (`configure_logging`, as `routedesk serve` sets it up),
writing to a file a test reads back. Fixture `log_capture`; tests/conftest.py imports it.

The test's stderr is swapped for the file before logging is configured, exactly as the process's
stderr is taken when a command starts; pytest's own logging setup is put back afterwards."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
import structlog

from app import logs


@dataclass
class LogCapture:
    path: Path
    stream: IO[str]

    def text(self) -> str:
        """Everything written so far, after the writer caught up with what was queued."""
        flush = getattr(logs, "flush_logs", None)
        if flush is not None:
            flush()
        self.stream.flush()
        if not self.path.exists():  # a stream of the test's own
            return ""
        return self.path.read_text(encoding="utf-8", errors="backslashreplace")

    def lines(self) -> list[str]:
        return [line for line in self.text().splitlines() if line.strip()]


@pytest.fixture
def log_capture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., LogCapture]]:
    structlog_config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    opened: list[IO[str]] = []

    def start(*, json: bool = False, level: str = "info", stream: IO[str] | None = None, **kwargs: Any) -> LogCapture:
        path = tmp_path / f"log-{len(opened)}.txt"
        target = stream if stream is not None else path.open("w", encoding="utf-8")
        opened.append(target)
        monkeypatch.setattr(sys, "stderr", target)
        logs.configure_logging(level, json=json, **kwargs)
        return LogCapture(path, target)

    try:
        yield start
    finally:
        stop = getattr(logs, "stop_logging", None)
        if stop is not None:
            stop()
        structlog.configure(**structlog_config)
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)
        for stream in opened:
            if not stream.closed and stream is not sys.__stderr__:
                stream.close()


class StuckStream:
    """A stream that notes which threads write to it and, with `blocked`, hangs like a full pipe until
    `release` is set. Only its creator's thread (the test's, the event loop's) is never made to wait:
    a write from there is recorded in `writers`, so that a test fails instead of hanging."""

    def __init__(self, *, blocked: bool = False) -> None:
        self.caller = threading.current_thread()
        self.writers: set[threading.Thread] = set()
        self.lines: list[str] = []
        self.release = threading.Event()
        if not blocked:
            self.release.set()
        self.closed = False

    def write(self, text: str) -> int:
        self.writers.add(threading.current_thread())
        if threading.current_thread() is not self.caller:
            self.release.wait()  # a stuck stderr; the caller's thread is never made to wait here
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.release.set()
        self.closed = True

    def text(self) -> str:
        return "".join(self.lines)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)
