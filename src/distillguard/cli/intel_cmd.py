"""`distillguard intel export|import|serve|pull|push|match`: sharing with partners (thin wiring)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from distillguard.cli.common import config_for, console, fail, user_errors

if TYPE_CHECKING:
    from distillguard.config import Config
    from distillguard.intel.taxii_client import TaxiiClient
    from distillguard.warehouse import Warehouse

intel_app = typer.Typer(
    help="Share campaign intel as STIX 2.1 / TAXII 2.1 and match partners' indicators.",
    no_args_is_help=True,
)

DbOption = Annotated[Path | None, typer.Option("--db", help="Warehouse file (default: setting db_path).")]
ConfigOption = Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key", help="TAXII API key (default: $DISTILLGUARD_TAXII_API_KEY).", show_default=False
    ),
]


def _open(db: Path | None, config_file: Path | None) -> tuple[Config, Warehouse]:
    from distillguard.warehouse import Warehouse

    config = config_for(db, config_file)
    return config, Warehouse.open(config.db_path)


@intel_app.command("export")
def export_command(
    out: Annotated[Path | None, typer.Option("--out", help="Bundle file to write.")] = None,
    db: DbOption = None,
    config_file: ConfigOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show exactly what would be shared; write nothing.")
    ] = False,
    attribute: Annotated[
        list[str] | None, typer.Option("--attribute", help="CAMPAIGN_ID=ACTOR: add an intrusion-set.")
    ] = None,
    indent: Annotated[int | None, typer.Option(help="Pretty-print the JSON.")] = None,
    show_json: Annotated[
        bool, typer.Option("--json", help="With --dry-run: print the whole bundle as well.")
    ] = False,
) -> None:
    """Write a STIX 2.1 bundle of our campaigns' indicators (TLP-marked, privacy-preserving)."""
    from distillguard.intel.exchange import describe_export, export_bundle
    from distillguard.intel.privacy import SharePolicy

    if out is None and not dry_run:
        raise fail("give --out FILE (or --dry-run to see what would be shared)")
    attributions = {}
    for item in attribute or []:
        campaign, sep, actor = item.partition("=")
        if not sep or not campaign or not actor:
            raise fail(f"--attribute {item!r}: expected CAMPAIGN_ID=ACTOR")
        attributions[campaign] = actor
    with user_errors():
        config, warehouse = _open(db, config_file)
        with warehouse:
            result = export_bundle(warehouse, config, attributions=attributions, record=not dry_run)
        if dry_run:
            for line in describe_export(result, SharePolicy.from_config(config)):
                typer.echo(line)
            if show_json:
                typer.echo(result.to_json(indent=indent or 2))
            return
        assert out is not None
        out.write_text(result.to_json(indent=indent), encoding="utf-8")
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(result.counts.items()))
    console.print(f"wrote {out}: {summary}")
    for note in result.notes:
        console.print(f"note: {note}")


@intel_app.command("import")
def import_command(
    files: Annotated[list[Path], typer.Argument(help="STIX 2.1 bundle files.")],
    db: DbOption = None,
    config_file: ConfigOption = None,
    partner: Annotated[
        str | None, typer.Option(help="Partner name (default: the bundle's identity).")
    ] = None,
    partner_identity: Annotated[
        str | None,
        typer.Option(
            help="The partner's STIX identity id: objects created by anyone else are quarantined "
            "(objects another creator already stored are refused either way)."
        ),
    ] = None,
) -> None:
    """Import partners' bundles: checked, quarantined with reasons, idempotent."""
    from distillguard.intel.stix_import import BundleRejected, import_bundle

    with user_errors():
        config, warehouse = _open(db, config_file)
        with warehouse:
            failed = False
            for path in files:
                try:
                    report = import_bundle(
                        warehouse,
                        path.read_bytes(),
                        source=str(path),
                        partner=partner,
                        partner_identity=partner_identity,
                        max_bundle_bytes=int(config.intel_max_bundle_bytes),
                        max_object_bytes=int(config.intel_max_object_bytes),
                    )
                except BundleRejected as exc:
                    console.print(
                        f"[bold red]error:[/] {path}: rejected: {exc}", highlight=False, soft_wrap=True
                    )
                    failed = True
                    continue
                console.print(report.summary(), highlight=False, soft_wrap=True)
                for q in report.quarantined[:20]:
                    console.print(
                        f"  quarantined {q.object_id or '?'}: {q.reason}", highlight=False, soft_wrap=True
                    )
    if failed:
        raise typer.Exit(1)


@intel_app.command("match")
def match_command(
    db: DbOption = None,
    config_file: ConfigOption = None,
    at: Annotated[str | None, typer.Option("--at", help="Evaluate validity at this ISO time.")] = None,
) -> None:
    """Match active partner indicators against our accounts; writes table partner_matches."""
    from distillguard.intel.matching import match_warehouse

    with user_errors():
        config, warehouse = _open(db, config_file)
        now = datetime.fromisoformat(at) if at else None
        with warehouse:
            report = match_warehouse(warehouse, config, now=now)
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(report.by_kind.items())) or "none"
    console.print(
        f"{report.indicators} active partner indicators; {report.matches} matches on "
        f"{report.accounts} accounts ({kinds})"
    )
    for note in report.notes:
        console.print(f"note: {note}")


@intel_app.command("serve")
def serve_command(
    partners: Annotated[Path, typer.Option("--partners", help="JSON file: collections and partner keys.")],
    db: DbOption = None,
    config_file: ConfigOption = None,
    host: str = "127.0.0.1",
    port: int = 9443,
    certfile: Annotated[Path | None, typer.Option(help="TLS certificate (enables HTTPS).")] = None,
    keyfile: Annotated[Path | None, typer.Option(help="TLS private key.")] = None,
) -> None:
    """Run the TAXII 2.1 server."""
    import uvicorn

    from distillguard.intel.taxii_server import create_app, load_server_settings

    if bool(certfile) != bool(keyfile):
        raise fail("give both --certfile and --keyfile for HTTPS")
    with user_errors():
        config, warehouse = _open(db, config_file)
        settings = load_server_settings(
            partners,
            discovery_requires_auth=bool(config.taxii_discovery_requires_auth),
            max_request_bytes=int(config.taxii_max_request_bytes),
            max_object_bytes=int(config.intel_max_object_bytes),
            page_size=int(config.taxii_page_size),
        )
    app = create_app(settings, warehouse)
    scheme = "https" if certfile else "http"
    console.print(f"TAXII 2.1 at {scheme}://{host}:{port}/taxii2/ (API root /{settings.api_root}/)")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
    )


def _client(
    url: str, api_key: str | None, user: str | None, password: str | None, ca: Path | None
) -> TaxiiClient:
    from distillguard.intel.taxii_client import TaxiiClient

    key = api_key or os.environ.get("DISTILLGUARD_TAXII_API_KEY")
    return TaxiiClient(
        url,
        api_key=key if user is None else None,
        user=user,
        password=password,
        verify=str(ca) if ca else True,
    )


@intel_app.command("pull")
def pull_command(
    url: Annotated[str, typer.Argument(help="TAXII API root URL, e.g. https://host/intel/")],
    collection: Annotated[str, typer.Option(help="Collection id.")],
    db: DbOption = None,
    config_file: ConfigOption = None,
    api_key: KeyOption = None,
    user: Annotated[str | None, typer.Option(help="HTTP Basic user (instead of an API key).")] = None,
    password: Annotated[str | None, typer.Option(help="HTTP Basic password.")] = None,
    partner: Annotated[str | None, typer.Option(help="Partner name for what is pulled.")] = None,
    full: Annotated[bool, typer.Option(help="Ignore where the last pull stopped.")] = False,
    ca: Annotated[Path | None, typer.Option(help="CA bundle to verify the server.")] = None,
) -> None:
    """Pull a partner's collection (incremental) and import it."""
    from distillguard.intel.taxii_client import TaxiiClientError, pull_into

    with user_errors():
        config, warehouse = _open(db, config_file)
        try:
            with warehouse, _client(url, api_key, user, password, ca) as client:
                reports = pull_into(
                    warehouse,
                    client,
                    collection,
                    partner=partner,
                    full=full,
                    max_bundle_bytes=int(config.intel_max_bundle_bytes),
                    max_object_bytes=int(config.intel_max_object_bytes),
                )
        except TaxiiClientError as exc:
            raise fail(str(exc)) from None
    stored = sum(r.stored for r in reports)
    quarantined = sum(len(r.quarantined) for r in reports)
    console.print(f"pulled {len(reports)} page(s): {stored} new objects, {quarantined} quarantined")


@intel_app.command("push")
def push_command(
    url: Annotated[str, typer.Argument(help="TAXII API root URL.")],
    collection: Annotated[str, typer.Option(help="Collection id.")],
    bundle: Annotated[Path, typer.Option(help="Bundle file to push (from `intel export`).")],
    api_key: KeyOption = None,
    user: Annotated[str | None, typer.Option(help="HTTP Basic user (instead of an API key).")] = None,
    password: Annotated[str | None, typer.Option(help="HTTP Basic password.")] = None,
    ca: Annotated[Path | None, typer.Option(help="CA bundle to verify the server.")] = None,
) -> None:
    """Push a bundle's objects to a TAXII collection."""
    from distillguard.intel.taxii_client import TaxiiClientError

    with user_errors():
        try:
            data = json.loads(bundle.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise fail(f"{bundle}: not JSON ({exc})") from None
        objects = data.get("objects") if isinstance(data, dict) else None
        if not isinstance(objects, list):
            raise fail(f"{bundle}: not a STIX bundle")
        try:
            with _client(url, api_key, user, password, ca) as client:
                result = client.push(collection, objects)
        except TaxiiClientError as exc:
            raise fail(str(exc)) from None
    console.print(f"pushed {len(objects)} objects: {result.succeeded} accepted, {result.failed} refused")


def register(app: typer.Typer) -> None:
    """Add this group's commands to the main app."""
    app.add_typer(intel_app, name="intel")
