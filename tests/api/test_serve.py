"""`routedesk serve --workers N` as an operator runs it: N processes on one port, each configured from
the environment, serving the same database, and all stopping on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import httpx

from app.config import Settings
from app.db import unit_of_work
from app.ports import free_port
from app.runtime import Runtime
from app.users import service as users
from tests.api.server import serve_processes


def _workers(pid: int) -> list[int]:
    """The server's worker processes (its other child is multiprocessing's resource tracker)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"resource_tracker" not in command:
                found.append(int(child))
    return found


async def test_serve_with_two_workers_runs_two_processes_that_answer_and_all_stop_on_sigterm(
    settings: Settings, runtime: Runtime, tmp_path: Path
) -> None:
    async with unit_of_work(runtime.sessionmaker) as session:
        _user, token = await users.create_user(session, name="ana", email="ana@routedesk.example", role="agent")
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = serve_processes(settings, port, log, 2)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async with asyncio.timeout(90):
                while True:
                    assert server.poll() is None, (tmp_path / "serve.log").read_text()
                    try:
                        if (await client.get("/readyz")).status_code == 200 and len(_workers(server.pid)) >= 2:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.3)
            auth = {"Authorization": f"Bearer {token}"}
            # Separate connections, so that the kernel hands them to either worker.
            answers = await asyncio.gather(*(_get(port, "/api/v1/queues", auth) for _ in range(20)))
            assert {status for status, _ in answers} == {200}
            unauthorised = await client.get("/api/v1/queues")
            assert unauthorised.status_code == 401 and unauthorised.json()["error"] == "Unauthorized"
            empty = await client.post("/api/v1/queues/triage/claim", headers=auth)
            assert empty.status_code == 404 and empty.json()["error"] == "NotFound"
        workers = _workers(server.pid)
        assert len(workers) == 2
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
        assert not any(Path(f"/proc/{pid}").exists() and _alive(pid) for pid in workers)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()


async def _get(port: int, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        response = await client.get(path, headers=headers)
        return response.status_code, response.content


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_serve_with_two_workers_on_a_taken_port_never_says_listening_and_fails(
    settings: Settings, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        log_path = tmp_path / "serve.log"
        with log_path.open("wb") as log:
            server = serve_processes(settings, port, log, 2)
            try:
                status = server.wait(timeout=60)
            finally:
                if server.poll() is None:
                    server.kill()
                    server.wait()
    output = log_path.read_text()
    assert status == 2, output
    assert "listening" not in output
    assert f"127.0.0.1:{port}" in output and "in use" in output.lower(), output
