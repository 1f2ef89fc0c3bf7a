"""`distillguard serve`: the real-time decision service (thin wiring; the work is in serve/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distillguard.cli.common import config_for, console, user_errors


def serve_command(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (setting serve_host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port to listen on (setting serve_port).")
    ] = None,
    db: Annotated[
        Path | None, typer.Option("--db", help="Warehouse whose verdicts are loaded (read-only).")
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="Policy YAML; edits apply without restart (default: built-in policy)."),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", help="Shared state: redis://host:port/db (default: in process)."),
    ] = None,
    config_file: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
) -> None:
    """Answer allow / challenge / throttle / degrade / block for each API request (see docs/serve.md)."""
    import uvicorn

    from distillguard.serve.app import build_decider, create_app
    from distillguard.serve.gateway_auth import check_bind, tls_options

    overrides: dict[str, object] = {"serve_host": host, "serve_port": port}
    if policy is not None:
        overrides["serve_policy_path"] = str(policy)
    if state is not None:
        overrides["serve_state_url"] = state
    config = config_for(db, config_file, **overrides)
    with user_errors():
        check_bind(config)  # a reachable, unauthenticated decision endpoint: refuse, naming the fix
        tls = tls_options(config)
        decider = build_decider(config)  # a missing or broken policy file stops here, naming its line
    loaded = decider.policy.current()
    app = create_app(
        config,
        decider=decider,
        close_on_shutdown=True,
        on_event=lambda note: console.print(note, highlight=False, soft_wrap=True),
    )
    audit = getattr(decider.audit, "path", "")
    console.print(
        f"policy {loaded.source} (version {loaded.version}, {loaded.mode}, {loaded.on_error}); "
        f"state {decider.state.backend}; audit log {audit}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(
        f"distillguard serve listening on {'https' if tls else 'http'}://{config.serve_host}:{config.serve_port}",
        highlight=False,
        soft_wrap=True,
    )
    # One process: the decision is CPU-bound and microseconds long; replicas share state via Redis.
    uvicorn.run(
        app,
        host=str(config.serve_host),
        port=int(config.serve_port),
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,
        **tls,
    )


def register(app: typer.Typer) -> None:
    """Add this group's commands to the main app."""
    app.command("serve")(serve_command)
