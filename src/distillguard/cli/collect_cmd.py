"""`distillguard collect`: the OTLP/HTTP receiver (thin wiring; the work is in collect/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distillguard.cli.common import config_for, console, user_errors


def collect_command(
    db: Annotated[
        Path | None, typer.Option("--db", help="Warehouse the received spans are written to.")
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (setting collect_host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port to listen on (setting collect_port).")
    ] = None,
    config_file: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
) -> None:
    """Receive GenAI spans over OTLP/HTTP (POST /v1/traces) and store them as events (docs/collect.md)."""
    import uvicorn

    from distillguard.collect import check_collect_config, create_collect_app
    from distillguard.config import deployment_secret
    from distillguard.serve.gateway_auth import tls_options

    config = config_for(db, config_file, collect_host=host, collect_port=port)
    with user_errors():
        check_collect_config(config)  # no sender tokens: refuse rather than accept anyone
        deployment_secret(config)  # created (and announced) now, not inside the first export
        tls = tls_options(config, "collect")
        app = create_collect_app(config)
    scheme = "https" if tls else "http"
    console.print(
        f"distillguard collect writing to {config.db_path}; OTLP/HTTP on "
        f"{scheme}://{config.collect_host}:{config.collect_port}/v1/traces",
        highlight=False,
        soft_wrap=True,
    )
    # One process: the writer thread is the warehouse's only writer; decoding runs in a small pool.
    uvicorn.run(
        app,
        host=str(config.collect_host),
        port=int(config.collect_port),
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=10,
        **tls,
    )


def register(app: typer.Typer) -> None:
    """Add this group's commands to the main app."""
    app.command("collect")(collect_command)
