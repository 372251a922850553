"""The process's real logging configuration (`configure_logging`, as `routedesk serve` sets it up),
writing to a file a test reads back. Fixture `log_capture`; tests/conftest.py imports it.

The test's stderr is swapped for the file before logging is configured, exactly as the process's
stderr is taken when a command starts; pytest's own logging setup is put back afterwards."""

from __future__ import annotations

import logging
import sys
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
def log_capture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., LogCapture]]:
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
