"""A TAXII 2.1 server for the sharing community (Starlette).

Endpoints (TAXII 2.1 sections 4-5): discovery, API root, collections, collection,
objects (GET with ``added_after``, ``limit``, ``next``, ``match[id|type|version|
spec_version]``; POST returning a status resource), one object, object versions,
manifest, status. Every response is ``application/taxii+json;version=2.1``.

Access: each partner has an API key (kept as its SHA-256 in the server file, sent
as ``Authorization: Bearer KEY`` or as the password of HTTP Basic) and read/write
lists of collection ids. Every endpoint except discovery (configurable) needs a
key. A collection may be ``private_to`` one partner: nobody else can see it, even
with a ``*`` grant, and a collection a partner may not read answers 404, so its
existence does not leak either. Request bodies over ``taxii_max_request_bytes``
get 413 before they are parsed.

A partner speaks only for itself: each partner with write access has the STIX
identity its key is bound to (``identity`` in the server file), and every object it
pushes must be created by that identity (``created_by_ref``) or be its own sighting;
an object id another partner created is refused with a reason in the status
resource, so nobody can publish a new version of (or revoke) someone else's
indicator. The rest of the checks are ``stix_import.check_objects``'.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from distillguard.intel.stix_export import stix_time
from distillguard.intel.stix_import import (
    ImportReport,
    check_objects,
    object_owners,
    parse_ts,
    store_objects,
)
from distillguard.schema import TABLES, TAXII_OBJECTS, TAXII_STATUS
from distillguard.warehouse import Warehouse

TAXII_MEDIA = "application/taxii+json;version=2.1"
STIX_MEDIA = "application/stix+json;version=2.1"


@dataclass(frozen=True)
class Partner:
    name: str
    key_sha256: str
    read: frozenset[str]
    write: frozenset[str]
    identity: str | None = None  # the STIX identity this partner's key speaks for


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str = ""
    private_to: str | None = None


@dataclass
class ServerSettings:
    title: str = "distillguard TAXII"
    api_root: str = "intel"
    collections: list[Collection] = field(default_factory=list)
    partners: list[Partner] = field(default_factory=list)
    discovery_requires_auth: bool = False
    max_request_bytes: int = 16_000_000
    max_object_bytes: int = 262_144
    page_size: int = 1000
    import_writes: bool = True  # pushed indicators also land in partner_indicators


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def load_server_settings(path: str | Path, **overrides: Any) -> ServerSettings:
    """Read the partners/collections file (JSON); errors name the file."""
    source = Path(path)
    try:
        data = json.loads(source.read_text())
        collections = [
            Collection(
                str(c["id"]), str(c.get("title", c["id"])), str(c.get("description", "")), c.get("private_to")
            )
            for c in data.get("collections", [])
        ]
        partners = []
        for p in data.get("partners", []):
            digest = p.get("api_key_sha256") or (hash_key(p["api_key"]) if p.get("api_key") else None)
            if not digest:
                raise ValueError(f"partner {p.get('name')!r} has no api_key_sha256")
            identity = p.get("identity")
            if identity is not None and not (isinstance(identity, str) and identity.startswith("identity--")):
                raise ValueError(f"partner {p.get('name')!r}: identity must be an identity--<uuid> id")
            partners.append(
                Partner(
                    str(p["name"]),
                    str(digest),
                    frozenset(p.get("read", [])),
                    frozenset(p.get("write", [])),
                    identity,
                )
            )
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{source}: invalid TAXII server file ({exc})") from None
    settings = ServerSettings(
        title=str(data.get("title", "distillguard TAXII")),
        api_root=str(data.get("api_root", "intel")),
        collections=collections,
        partners=partners,
    )
    for name, value in overrides.items():
        setattr(settings, name, value)
    return settings


class TaxiiError(Exception):
    def __init__(self, status: int, title: str, description: str = "") -> None:
        super().__init__(title)
        self.status, self.title, self.description = status, title, description


def _taxii(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, media_type=TAXII_MEDIA, headers=headers)


class TaxiiStore:
    """The object store behind the server: DuckDB tables, one lock (DuckDB connections are not shared)."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self.lock = threading.Lock()
        for name in ("taxii_objects", "taxii_status"):
            warehouse.ensure_table(name, TABLES[name])

    def query(
        self,
        collection_id: str,
        *,
        added_after: datetime | None,
        cursor: tuple[str, str, str] | None,
        ids: list[str],
        types: list[str],
        versions: list[str],
        spec_versions: list[str],
        limit: int,
    ) -> list[dict[str, Any]]:
        where = ["collection_id = ?"]
        params: list[object] = [collection_id]
        if added_after is not None:
            where.append("date_added > ?")
            params.append(added_after)
        for column, values in (("object_id", ids), ("object_type", types), ("spec_version", spec_versions)):
            if values:
                where.append(f"{column} IN ({', '.join('?' for _ in values)})")
                params.extend(values)
        explicit = [v for v in versions if v not in {"first", "last", "all"}]
        if explicit:
            where.append(f"version IN ({', '.join('?' for _ in explicit)})")
            params.extend(explicit)
        pick = ""
        if not explicit and "all" not in versions:
            order = "ASC" if versions == ["first"] else "DESC"
            pick = f"QUALIFY row_number() OVER (PARTITION BY object_id ORDER BY version {order}) = 1"
        page = ""
        if cursor is not None:
            page = "WHERE (strftime(date_added, '%Y-%m-%dT%H:%M:%S.%fZ'), object_id, version) > (?, ?, ?)"
            params.extend(cursor)
        sql = f"""
            SELECT * FROM (
                SELECT object_id, version, spec_version, date_added, body FROM taxii_objects
                WHERE {" AND ".join(where)} {pick}
            ) {page}
            ORDER BY date_added, object_id, version LIMIT {int(limit) + 1}
        """
        with self.lock:
            return self.warehouse.engine.to_arrow(sql, params).to_pylist()

    def known_ids(self, collection_id: str) -> set[str]:
        with self.lock:
            rows = self.warehouse.engine.to_arrow(
                "SELECT DISTINCT object_id FROM taxii_objects WHERE collection_id = ?", [collection_id]
            )
        return {str(v) for v in rows.column(0).to_pylist()}

    def owners(self, collection_id: str) -> dict[str, str]:
        """Object id -> its creator's identity, for what the collection (and the import tables) hold."""
        with self.lock:
            rows = self.warehouse.engine.to_arrow(
                """
                SELECT object_id,
                       coalesce(any_value(json_extract_string(body, '$.created_by_ref')),
                                CASE WHEN any_value(object_type) = 'identity' THEN object_id END) AS owner
                FROM taxii_objects WHERE collection_id = ? GROUP BY object_id
                """,
                [collection_id],
            ).to_pylist()
            owners = {str(r["object_id"]): str(r["owner"]) for r in rows if r["owner"] is not None}
            return {**object_owners(self.warehouse), **owners}

    def add(self, collection_id: str, objects: list[dict[str, Any]], partner: str) -> tuple[int, int]:
        """Insert new (id, version) pairs; returns (added, already present)."""
        now = datetime.now(UTC)
        rows = [
            {
                "collection_id": collection_id,
                "object_id": o["id"],
                "object_type": o["type"],
                "version": str(o.get("modified") or o.get("created") or stix_time(now)),
                "spec_version": str(o.get("spec_version", "2.1")),
                "date_added": now,
                "added_by": partner,
                "body": json.dumps(o, ensure_ascii=False),
            }
            for o in objects
        ]
        if not rows:
            return 0, 0
        with self.lock:
            engine = self.warehouse.engine
            before = self.warehouse.count("taxii_objects")
            engine.register("_taxii_new", pa.Table.from_pylist(rows, schema=TAXII_OBJECTS))
            try:
                engine.execute(
                    """
                    INSERT INTO taxii_objects SELECT DISTINCT ON (collection_id, object_id, version) *
                    FROM _taxii_new n WHERE NOT EXISTS (
                        SELECT 1 FROM taxii_objects t WHERE t.collection_id = n.collection_id
                          AND t.object_id = n.object_id AND t.version = n.version)
                    """
                )
            finally:
                engine.unregister("_taxii_new")
            added = self.warehouse.count("taxii_objects") - before
        return added, len(rows) - added

    def save_status(self, status: dict[str, Any], collection_id: str, partner: str) -> None:
        row = {
            "status_id": status["id"],
            "collection_id": collection_id,
            "partner": partner,
            "request_timestamp": parse_ts(status["request_timestamp"]),
            "body": json.dumps(status),
        }
        with self.lock:
            self.warehouse.engine.register("_taxii_status", pa.Table.from_pylist([row], schema=TAXII_STATUS))
            try:
                self.warehouse.engine.execute("INSERT INTO taxii_status SELECT * FROM _taxii_status")
            finally:
                self.warehouse.engine.unregister("_taxii_status")

    def status(self, status_id: str, partner: str) -> dict[str, Any] | None:
        with self.lock:
            body = self.warehouse.engine.scalar(
                "SELECT body FROM taxii_status WHERE status_id = ? AND partner = ?", [status_id, partner]
            )
        return json.loads(str(body)) if body else None

    def import_objects(self, objects: list[dict[str, Any]], partner: str, source: str) -> None:
        with self.lock:
            store_objects(
                self.warehouse, objects, ImportReport(source=source), source=source, partner=partner
            )


def _encode_cursor(row: dict[str, Any]) -> str:
    text = json.dumps([stix_time_us(row["date_added"]), row["object_id"], row["version"]])
    return base64.urlsafe_b64encode(text.encode()).decode()


def stix_time_us(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _decode_cursor(token: str) -> tuple[str, str, str]:
    try:
        a, b, c = json.loads(base64.urlsafe_b64decode(token.encode()))
        return str(a), str(b), str(c)
    except (ValueError, TypeError, binascii.Error):
        raise TaxiiError(400, "invalid 'next' value") from None


class TaxiiApp:
    def __init__(self, settings: ServerSettings, store: TaxiiStore) -> None:
        self.settings = settings
        self.store = store
        self.collections = {c.id: c for c in settings.collections}

    # ----------------------------------------------------------------- access
    def partner_for(self, request: Request) -> Partner:
        header = request.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        key, user = "", None
        if scheme.lower() == "bearer":
            key = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                user, _, key = base64.b64decode(credentials.strip()).decode().partition(":")
            except (ValueError, binascii.Error):
                key = ""
        if key:
            digest = hash_key(key)
            for partner in self.settings.partners:
                if hmac.compare_digest(partner.key_sha256, digest) and user in (None, "", partner.name):
                    return partner
        raise TaxiiError(401, "authentication required", "send Authorization: Bearer <API key>")

    def can_read(self, partner: Partner, collection: Collection) -> bool:
        if collection.private_to and collection.private_to != partner.name:
            return False  # never another partner's private collection, whatever the grants say
        return collection.id in partner.read or "*" in partner.read

    def can_write(self, partner: Partner, collection: Collection) -> bool:
        if collection.private_to and collection.private_to != partner.name:
            return False
        return collection.id in partner.write or "*" in partner.write

    def visible(self, partner: Partner, collection_id: str) -> Collection:
        collection = self.collections.get(collection_id)
        if collection is None or not (
            self.can_read(partner, collection) or self.can_write(partner, collection)
        ):
            raise TaxiiError(404, "collection not found")
        return collection

    def check_root(self, request: Request) -> None:
        if request.path_params.get("api_root") != self.settings.api_root:
            raise TaxiiError(404, "API root not found")

    @staticmethod
    def check_accept(request: Request) -> None:
        accept = request.headers.get("accept", "*/*").lower()
        if not any(
            t in accept for t in ("application/taxii+json", "*/*", "application/json", "application/*")
        ):
            raise TaxiiError(406, "not acceptable", f"use Accept: {TAXII_MEDIA}")

    # -------------------------------------------------------------- endpoints
    async def discovery(self, request: Request) -> Response:
        self.check_accept(request)
        if self.settings.discovery_requires_auth:
            self.partner_for(request)
        root = str(request.base_url).rstrip("/") + f"/{self.settings.api_root}/"
        return _taxii(
            {
                "title": self.settings.title,
                "description": "distillguard distillation intel",
                "default": root,
                "api_roots": [root],
            }
        )

    async def api_root(self, request: Request) -> Response:
        self.check_accept(request)
        self.check_root(request)
        self.partner_for(request)
        return _taxii(
            {
                "title": self.settings.title,
                "versions": [TAXII_MEDIA],
                "max_content_length": self.settings.max_request_bytes,
            }
        )

    def _collection_resource(self, partner: Partner, c: Collection) -> dict[str, Any]:
        return {
            "id": c.id,
            "title": c.title,
            "description": c.description,
            "can_read": self.can_read(partner, c),
            "can_write": self.can_write(partner, c),
            "media_types": [STIX_MEDIA],
        }

    async def collections_list(self, request: Request) -> Response:
        self.check_accept(request)
        self.check_root(request)
        partner = self.partner_for(request)
        items = [
            self._collection_resource(partner, c)
            for c in self.settings.collections
            if self.can_read(partner, c) or self.can_write(partner, c)
        ]
        return _taxii({"collections": items} if items else {})

    async def collection(self, request: Request) -> Response:
        self.check_accept(request)
        self.check_root(request)
        partner = self.partner_for(request)
        c = self.visible(partner, request.path_params["collection_id"])
        return _taxii(self._collection_resource(partner, c))

    def _readable(self, request: Request) -> Collection:
        self.check_accept(request)
        self.check_root(request)
        partner = self.partner_for(request)
        c = self.visible(partner, request.path_params["collection_id"])
        if not self.can_read(partner, c):
            raise TaxiiError(403, "no read access to this collection")
        return c

    async def _page(
        self, request: Request, *, object_id: str | None = None
    ) -> tuple[list[dict[str, Any]], dict]:
        c = self._readable(request)
        q = request.query_params
        try:
            limit = min(int(q.get("limit", self.settings.page_size)), self.settings.page_size)
        except ValueError:
            raise TaxiiError(400, "limit must be an integer") from None
        limit = max(limit, 1)
        added_after = None
        if "added_after" in q:
            added_after = parse_ts(q["added_after"])
            if added_after is None:
                raise TaxiiError(400, "added_after is not a timestamp")
        cursor = _decode_cursor(q["next"]) if q.get("next") else None

        def split(name: str) -> list[str]:
            return [v for v in q.get(name, "").split(",") if v]

        ids = [object_id] if object_id else split("match[id]")
        versions = split("match[version]") or (
            ["all"] if request.url.path.endswith("/versions/") else ["last"]
        )
        rows = await run_in_threadpool(
            self.store.query,
            c.id,
            added_after=added_after,
            cursor=cursor,
            ids=ids,
            types=split("match[type]"),
            versions=versions,
            spec_versions=split("match[spec_version]"),
            limit=limit,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        envelope: dict[str, Any] = {"more": more}
        if more:
            envelope["next"] = _encode_cursor(rows[-1])
        headers = {}
        if rows:
            headers["X-TAXII-Date-Added-First"] = stix_time_us(rows[0]["date_added"])
            headers["X-TAXII-Date-Added-Last"] = stix_time_us(rows[-1]["date_added"])
        return rows, {"envelope": envelope, "headers": headers}

    async def objects_get(self, request: Request) -> Response:
        rows, meta = await self._page(request)
        envelope = meta["envelope"]
        if rows:
            envelope["objects"] = [json.loads(r["body"]) for r in rows]
        return _taxii(envelope, headers=meta["headers"])

    async def object_get(self, request: Request) -> Response:
        rows, meta = await self._page(request, object_id=request.path_params["object_id"])
        if not rows:
            raise TaxiiError(404, "object not found")
        envelope = {**meta["envelope"], "objects": [json.loads(r["body"]) for r in rows]}
        return _taxii(envelope, headers=meta["headers"])

    async def versions_get(self, request: Request) -> Response:
        rows, meta = await self._page(request, object_id=request.path_params["object_id"])
        if not rows:
            raise TaxiiError(404, "object not found")
        return _taxii({**meta["envelope"], "versions": [r["version"] for r in rows]}, headers=meta["headers"])

    async def manifest_get(self, request: Request) -> Response:
        rows, meta = await self._page(request)
        envelope = meta["envelope"]
        if rows:
            envelope["objects"] = [
                {
                    "id": r["object_id"],
                    "date_added": stix_time_us(r["date_added"]),
                    "version": r["version"],
                    "media_type": STIX_MEDIA,
                }
                for r in rows
            ]
        return _taxii(envelope, headers=meta["headers"])

    async def _body(self, request: Request) -> bytes:
        limit = self.settings.max_request_bytes
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise TaxiiError(413, "request too large", f"limit is {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TaxiiError(413, "request too large", f"limit is {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def objects_post(self, request: Request) -> Response:
        self.check_accept(request)
        self.check_root(request)
        partner = self.partner_for(request)
        c = self.visible(partner, request.path_params["collection_id"])
        if not self.can_write(partner, c):
            raise TaxiiError(403, "no write access to this collection")
        if partner.identity is None:
            raise TaxiiError(
                403,
                "no identity bound to this partner",
                f'the server file names no STIX identity for partner {partner.name!r}; add "identity"',
            )
        content_type = request.headers.get("content-type", "").replace(" ", "").lower()
        if not content_type.startswith(("application/taxii+json", "application/json")):
            raise TaxiiError(415, "unsupported media type", f"send Content-Type: {TAXII_MEDIA}")
        raw = await self._body(request)
        try:
            envelope = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise TaxiiError(400, "body is not JSON (or nested too deeply)") from None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("objects"), list):
            raise TaxiiError(400, "body is not a TAXII envelope with an 'objects' list")
        known = await run_in_threadpool(self.store.known_ids, c.id)
        owners = await run_in_threadpool(self.store.owners, c.id)
        accepted, rejected = check_objects(
            envelope["objects"],
            max_object_bytes=self.settings.max_object_bytes,
            known_ids=known,
            writer_identity=partner.identity,
            owners=owners,
        )
        await run_in_threadpool(self.store.add, c.id, accepted, partner.name)
        if self.settings.import_writes and accepted:
            await run_in_threadpool(self.store.import_objects, accepted, partner.name, f"taxii:{c.id}")
        now = stix_time(datetime.now(UTC))
        status = {
            "id": str(uuid.uuid4()),
            "status": "complete",
            "request_timestamp": now,
            "total_count": len(envelope["objects"]),
            "success_count": len(accepted),
            "successes": [
                {"id": o["id"], "version": str(o.get("modified") or o.get("created") or now)}
                for o in accepted
            ],
            "failure_count": len(rejected),
            "failures": [{"id": q.object_id or "unknown", "message": q.reason} for q in rejected],
            "pending_count": 0,
        }
        await run_in_threadpool(self.store.save_status, status, c.id, partner.name)
        return _taxii(status, status=202)

    async def status_get(self, request: Request) -> Response:
        self.check_accept(request)
        self.check_root(request)
        partner = self.partner_for(request)
        status = await run_in_threadpool(self.store.status, request.path_params["status_id"], partner.name)
        if status is None:
            raise TaxiiError(404, "status not found")
        return _taxii(status)


def create_app(settings: ServerSettings, warehouse: Warehouse) -> Starlette:
    taxii = TaxiiApp(settings, TaxiiStore(warehouse))
    base = "/{api_root}/collections/{collection_id}"
    routes = [
        Route("/taxii2/", taxii.discovery),
        Route("/{api_root}/", taxii.api_root),
        Route("/{api_root}/collections/", taxii.collections_list),
        Route(base + "/", taxii.collection),
        Route(base + "/objects/", taxii.objects_get, methods=["GET"]),
        Route(base + "/objects/", taxii.objects_post, methods=["POST"]),
        Route(base + "/objects/{object_id}/", taxii.object_get),
        Route(base + "/objects/{object_id}/versions/", taxii.versions_get),
        Route(base + "/manifest/", taxii.manifest_get),
        Route("/{api_root}/status/{status_id}/", taxii.status_get),
    ]

    async def taxii_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TaxiiError)
        headers = {"WWW-Authenticate": 'Bearer realm="taxii"'} if exc.status == 401 else None
        return _taxii(
            {"title": exc.title, "description": exc.description, "http_status": str(exc.status)},
            status=exc.status,
            headers=headers,
        )

    return Starlette(routes=routes, exception_handlers={TaxiiError: taxii_error})
