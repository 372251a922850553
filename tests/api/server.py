"""`routedesk serve` as a subprocess, for the tests that need a real server: a body never read off the
socket, the client address uvicorn reports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

from app.config import Settings
from app.ports import free_port

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def serving(settings: Settings, log_path: Path, **env: str) -> Iterator[int]:
    """The server on a free port, on `settings`' database, with `env` added; yields the port."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}
    environ.update(ROUTEDESK_DATABASE_URL=settings.database_url, ROUTEDESK_DATA_DIR=str(settings.data_dir),
                   ROUTEDESK_LOG_LEVEL="warning", **env)  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], cwd=REPO,
                                   env=environ, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        try:
            _wait_ready(process, port, log_path)
            yield port
        finally:
            process.terminate()
            process.wait(timeout=30)


def _wait_ready(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for _ in range(300):
            assert process.poll() is None, log_path.read_text()
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)  # polling for the process to come up; nothing timed is asserted
    raise AssertionError(f"the server did not come up: {log_path.read_text()}")


def serve_processes(settings: Settings, port: int, log: IO[bytes], workers: int, **env: str) -> subprocess.Popen[bytes]:
    """`routedesk serve --workers N` on `settings`' database and `port`, its output to `log`, `env` added."""
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    environ.update(ROUTEDESK_DATABASE_URL=settings.database_url, ROUTEDESK_DATA_DIR=str(settings.data_dir),
                   ROUTEDESK_LOG_LEVEL="warning", **env)  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)],
        cwd=REPO,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
