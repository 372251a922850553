"""The Dockerfile and compose.yaml read statically: no build, no container (`.ci/container` builds and runs them)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.routing import APIRoute

from app.main import create_app

REPO = Path(__file__).resolve().parent.parent


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if line.endswith("\\"):
            continue
        keyword, _, rest = pending.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends in a continuation line"
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_every_stage_is_built_from_the_base_argument() -> None:
    instructions = dockerfile()
    first_from = next(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    declared = [args.split("=", 1)[0] for keyword, args in instructions[:first_from] if keyword == "ARG"]
    assert declared == ["BASE"]
    froms = [args.split()[0] for keyword, args in instructions if keyword == "FROM"]
    assert froms and all(image == "${BASE}" for image in froms), froms


def test_the_image_runs_as_an_unprivileged_user() -> None:
    users = [args for keyword, args in final_stage() if keyword == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user, _, group = users[-1].partition(":")
    assert user not in ("0", "root") and group not in ("0", "root")


def test_the_healthcheck_asks_the_readiness_route_the_app_has() -> None:
    checks = [args for keyword, args in final_stage() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and " CMD " in f" {checks[0]} "
    paths = {route.path for route in create_app().routes if isinstance(route, APIRoute)}
    assert "/readyz" in paths
    assert "/readyz" in checks[0]


def test_the_image_upgrades_the_database_then_runs_on_all_interfaces() -> None:
    commands = [args for keyword, args in final_stage() if keyword == "CMD"]
    assert len(commands) == 1
    argv = json.loads(commands[0])
    assert argv[:2] == ["sh", "-c"]
    script = argv[2]
    assert re.search(r"routedesk db upgrade && exec routedesk run --host 0\.0\.0\.0 ", script), script
    assert "VOLUME" in {keyword for keyword, _ in final_stage()}


def test_the_build_copies_every_package_the_project_ships() -> None:
    copied = set()
    for keyword, args in dockerfile():
        if keyword == "COPY" and not args.startswith("--from"):
            *sources, _destination = shlex.split(args)
            copied.update(sources)
    for source in copied:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    pyproject = (REPO / "pyproject.toml").read_text()
    packages = re.search(r"include = \[(.*?)\]", pyproject)
    assert packages is not None
    for package in re.findall(r'"(\w+)\*"', packages.group(1)):
        assert package in copied, f"the package {package} is not copied into the build"
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}
    assert not copied & ignored, "the .dockerignore leaves out what the build copies"


def test_compose_runs_routedesk_on_postgres_once_it_is_healthy() -> None:
    services = compose()["services"]
    assert set(services) == {"routedesk", "postgres"}
    routedesk, postgres = services["routedesk"], services["postgres"]
    assert routedesk["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert "BASE" in routedesk["build"]["args"]
    assert "pg_isready" in postgres["healthcheck"]["test"]
    assert any("/readyz" in word for word in routedesk["healthcheck"]["test"])
    environment = routedesk["environment"]
    assert environment["ROUTEDESK_DATABASE_URL"].startswith("postgresql://routedesk:${POSTGRES_PASSWORD")
    assert environment["ROUTEDESK_DATABASE_URL"].endswith("@postgres:5432/routedesk")
    assert routedesk["ports"] == ["127.0.0.1:${ROUTEDESK_PORT:-8000}:8000"]


def test_compose_takes_every_secret_from_the_environment() -> None:
    services = compose()["services"]
    secrets = {
        "ROUTEDESK_SECRET_KEY": services["routedesk"]["environment"]["ROUTEDESK_SECRET_KEY"],
        "POSTGRES_PASSWORD": services["postgres"]["environment"]["POSTGRES_PASSWORD"],
    }
    for name, value in secrets.items():
        # ${NAME:?message}: compose refuses to start without it, rather than start with no secret.
        assert re.fullmatch(r"\$\{(\w+):\?[^}]+\}", value) and value[2:].startswith(name), (name, value)


def test_compose_keeps_state_in_named_volumes() -> None:
    document = compose()
    declared = set(document["volumes"])
    mounts = {
        name: {volume.split(":")[1] for volume in service["volumes"]} for name, service in document["services"].items()
    }
    used = {volume.split(":")[0] for service in document["services"].values() for volume in service["volumes"]}
    assert used == declared == {"postgres-data", "routedesk-data"}
    assert mounts == {"routedesk": {"/var/lib/routedesk"}, "postgres": {"/var/lib/postgresql/data"}}
    volumes = [args for keyword, args in final_stage() if keyword == "VOLUME"]
    assert volumes == ["/var/lib/routedesk"]


def test_the_container_check_is_valid_bash() -> None:
    script = REPO / ".ci" / "container"
    assert script.stat().st_mode & 0o111, ".ci/container is not executable"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("field", ["interval", "timeout", "retries"])
def test_compose_healthchecks_say_how_often_and_how_long(field: str) -> None:
    for service in compose()["services"].values():
        assert field in service["healthcheck"]


def test_the_local_postgres_image_reads_what_compose_gives_the_official_one() -> None:
    # .ci/container brings compose.yaml up with .ci/postgres/ (Debian's PostgreSQL) for POSTGRES_IMAGE.
    entrypoint = REPO / ".ci" / "postgres" / "entrypoint.sh"
    assert entrypoint.stat().st_mode & 0o111, "the entrypoint is not executable"
    result = subprocess.run(["sh", "-n", str(entrypoint)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    script = entrypoint.read_text()
    for variable in compose()["services"]["postgres"]["environment"]:
        assert f"${{{variable}" in script, f"compose.yaml sets {variable}, which the local image ignores"
    containerfile = (REPO / ".ci" / "postgres" / "Containerfile").read_text()
    (mount,) = {volume.split(":")[1] for volume in compose()["services"]["postgres"]["volumes"]}
    assert f"PGDATA={mount}" in containerfile and f"VOLUME {mount}" in containerfile
