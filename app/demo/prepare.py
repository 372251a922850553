"""What `routedesk demo` does before it imports the rest of Routedesk: its folder, its labelled set,
and the router trained on that set in a child process (`classifiers.fitting`).

Kept light on purpose: while the child trains, this process holds only the CLI, the settings and
this module, and it never imports scikit-learn, SciPy or skops (see README, "The demo's memory")."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import typer

from app.config import Settings
from app.demo.corpus import as_rows, labelled_examples
from classifiers.errors import TrainingFailed
from classifiers.fitting import ExampleFile, Fitted, fit_in_child

# Written into the demo's folder: a folder without it is not wiped, whatever the settings point at.
MARKER = ".routedesk-demo"
LABELLED = "labelled.csv"


def demo_home(settings: Settings) -> Path:
    """Where the demo keeps its files: `demo/` in ROUTEDESK_DATA_DIR when one is set, else in the
    user's data folder (XDG_DATA_HOME, ~/.local/share); never the working directory, which is often
    a checkout."""
    if "data_dir" in settings.model_fields_set:
        return (Path(settings.data_dir) / "demo").resolve()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return (Path(base) / "routedesk" / "demo").resolve()


def demo_settings(settings: Settings) -> Settings:
    """A fresh SQLite file each run in the demo's folder, left in place afterwards for anyone who
    wants to look at it (with the labelled set it trains on and the mail it sent)."""
    home = demo_home(settings)
    if home.exists() and any(home.iterdir()) and not (home / MARKER).exists():
        from app.errors import InvalidInput  # here: it brings FastAPI, which the demo needs only later

        raise InvalidInput(f"{home} is not empty and was not made by the demo: point ROUTEDESK_DATA_DIR elsewhere")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    (home / MARKER).write_text("made by `routedesk demo`, wiped by its next run\n", encoding="utf-8")
    rows = as_rows(labelled_examples())
    with (home / LABELLED).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["subject", "body", "label"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return settings.model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{home / 'routedesk.db'}", "data_dir": home}
    )


async def train_model(settings: Settings) -> Fitted:
    """The demo's router, trained on its labelled set in a child process, one fit at a time (about
    half the memory of two, in about the same time on a machine whose other core is busy). The
    labels are the demo's area names, as activation checks."""
    home = Path(settings.data_dir)
    typer.echo(f"training the router on the labelled demo emails in {LABELLED} (the project's own set)...")
    source = ExampleFile(path=str(home / LABELLED), subject_col="subject", body_col="body")
    try:
        fitted = await fit_in_child(source, n_jobs=1)
    except TrainingFailed as exc:
        from app.errors import InvalidInput

        raise InvalidInput(f"the demo could not train its router: {exc}") from None
    accuracy = float(fitted.metrics["accuracy"])
    typer.echo(f"trained on {fitted.n_examples} labelled demo emails, cross-validated accuracy {accuracy:.3f}")
    return fitted
