"""`routedesk demo`: the whole path of a message on embedded defaults."""

from __future__ import annotations

from typing import Annotated

import typer

from app.cli.common import cli, load_settings, reporting, run_async


@cli.command("demo")
def demo(
    messages: Annotated[int, typer.Option(min=1, max=5000, help="How many sample emails to load")] = 60,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the API afterwards until Ctrl-C")] = True,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for the API")] = 8000,
) -> None:
    """Run Routedesk end to end on embedded defaults: sample mail in a local IMAP server, a model trained
    on the project's labelled set, routed tickets, acknowledgements over SMTP, and the agents' API."""
    from app.demo.prepare import demo_settings, train_model

    base = load_settings()
    settings = reporting(lambda: demo_settings(base))
    typer.echo(f"demo files (database, labelled set, sent mail) in {settings.data_dir}")
    # Training first, in a child process, before this process imports the rest of Routedesk: the two
    # never hold their memory at the same time (README, "The demo's memory").
    fitted = run_async(lambda: train_model(settings))
    from app.demo.run import run_demo

    run_async(
        lambda: run_demo(settings, fitted, messages=messages, serve=serve, port=port),
        database_url=settings.database_url,
    )
