"""The training progress bar: one bar for the whole run, the stage named, never moving back."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from app.db import unit_of_work
from app.demo.corpus import labelled_examples, write_labelled_csv
from app.routing import training
from app.runtime import Runtime
from classifiers.data import Example

REPO = Path(__file__).resolve().parents[2]
# The order stages come in; each may report several times, but none comes back after a later one.
STAGES = (
    "fitting models",
    "choosing the threshold",
    "evaluating",
    "trained",
    "comparing on",
    "storing the model version",
    "done",
)
BAR = re.compile(r"\[[#.]{30}\]\s+(\d+)% (.*?)\s*$")


def stage_rank(stage: str) -> int:
    return next(i for i, prefix in enumerate(STAGES) if stage.startswith(prefix))


def read_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Runs the command with a terminal as its stderr (the bar is drawn only there); what it drew."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        args, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=follower
    )
    os.close(follower)
    drawn = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command closed the terminal's last writer
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    return proc.wait(timeout=300), drawn.decode("utf-8", "replace")


async def test_train_draws_one_bar_that_names_the_stage_never_goes_back_and_ends_at_100(
    runtime: Runtime, tmp_path: Path
) -> None:
    data = tmp_path / "labelled.csv"
    write_labelled_csv(data, labelled_examples(240, seed=3))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTEDESK_")}
    env.update(
        ROUTEDESK_DATABASE_URL=runtime.settings.database_url,
        ROUTEDESK_DATA_DIR=str(runtime.settings.data_dir),
        ROUTEDESK_LOG_LEVEL="warning",
    )
    code, drawn = read_terminal(
        [
            sys.executable,
            "-m",
            "app.cli",
            "train",
            "--data",
            str(data),
            "--subject-col",
            "subject",
            "--body-col",
            "body",
        ],
        env,
    )
    assert code == 0, drawn
    bars = [m.groups() for line in re.split(r"[\r\n]+", drawn) if (m := BAR.search(line))]
    percents = [int(p) for p, _ in bars]
    ranks = [stage_rank(stage) for _, stage in bars]
    assert len(bars) >= 10
    assert percents == sorted(percents) and percents[0] == 0 and percents[-1] == 100
    assert ranks == sorted(ranks)
    assert bars[-2][1] == "storing the model version" and bars[-1][1] == "done"


async def test_training_from_tickets_reports_fractions_that_never_decrease_and_end_at_one(runtime: Runtime) -> None:
    examples = [Example(text=e.text, label=e.label) for e in labelled_examples(240, seed=4)]
    seen: list[tuple[str, float]] = []
    async with unit_of_work(runtime.sessionmaker) as session:
        await training.train_and_register(
            session, examples, source="tickets", progress=lambda stage, f: seen.append((stage, f))
        )
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    ranks = [stage_rank(stage) for stage, _ in seen]
    assert ranks == sorted(ranks)
    assert any(re.fullmatch(r"comparing on \d+ held-out tickets", stage) for stage, _ in seen)
