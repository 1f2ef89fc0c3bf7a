"""Helpers every command group shares: config loading and one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console

from distillguard.config import Config, ConfigError, load_config
from distillguard.engine import SqlError

console = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error (no traceback) and return the Exit to raise."""
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def config_for(db: Path | None = None, config_file: Path | None = None, **overrides: object) -> Config:
    try:
        return load_config(config_file, db_path=str(db) if db else None, **overrides)
    except ConfigError as exc:
        raise fail(str(exc)) from None


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn expected errors into one-line messages instead of tracebacks."""
    try:
        yield
    except (FileNotFoundError, NotADirectoryError, PermissionError, ConfigError, ValueError) as exc:
        raise fail(str(exc)) from None
    except SqlError as exc:  # the SQL itself goes to the debug log, not the user's terminal
        raise fail(f"the database failed: {exc.cause}") from None
