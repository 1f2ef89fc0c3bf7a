"""A small TAXII 2.1 client (httpx): pull a collection page by page, push bundles.

It speaks plain TAXII 2.1, so it works against our server and any other
(medallion, commercial TIPs): pagination follows the envelope's ``more``/``next``,
incremental pulls resume from the last ``X-TAXII-Date-Added-Last`` recorded in
``intel_pull_state``, and pushes are sent in envelopes of ``chunk_objects``.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pyarrow as pa

from distillguard.intel.stix_import import ImportReport, import_bundle
from distillguard.schema import INTEL_PULL_STATE, TABLES
from distillguard.warehouse import Warehouse

TAXII_MEDIA = "application/taxii+json;version=2.1"


class TaxiiClientError(RuntimeError):
    """The server answered with an error (message names the URL and status)."""


@dataclass
class PushResult:
    statuses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def succeeded(self) -> int:
        return sum(int(s.get("success_count", 0)) for s in self.statuses)

    @property
    def failed(self) -> int:
        return sum(int(s.get("failure_count", 0)) for s in self.statuses)


class TaxiiClient:
    def __init__(
        self,
        api_root_url: str,
        *,
        api_key: str | None = None,
        user: str | None = None,
        password: str | None = None,
        verify: bool | str = True,
        timeout_s: float = 60.0,
    ) -> None:
        self.api_root = api_root_url.rstrip("/") + "/"
        headers = {"Accept": TAXII_MEDIA}
        auth: httpx.BasicAuth | None = None
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        elif user is not None:
            auth = httpx.BasicAuth(user, password or "")
        # A CA file path becomes an SSL context (httpx deprecates passing the path itself).
        tls: bool | ssl.SSLContext = (
            ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        )
        self.http = httpx.Client(headers=headers, auth=auth, verify=tls, timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> TaxiiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, url: str, params: dict[str, str] | None = None) -> httpx.Response:
        response = self.http.get(url, params=params)
        self._check(response)
        return response

    @staticmethod
    def _check(response: httpx.Response) -> None:
        if response.status_code >= 400:
            try:
                detail = response.json().get("title", "")
            except (json.JSONDecodeError, AttributeError):
                detail = response.text[:200]
            raise TaxiiClientError(f"{response.request.url}: HTTP {response.status_code} {detail}".strip())

    def collections(self) -> list[dict[str, Any]]:
        return list(self._get(self.api_root + "collections/").json().get("collections", []))

    def pages(
        self, collection_id: str, *, added_after: str | None = None, limit: int = 1000
    ) -> Iterator[tuple[dict[str, Any], str | None]]:
        """(envelope, X-TAXII-Date-Added-Last) per page until the server says no more."""
        url = f"{self.api_root}collections/{collection_id}/objects/"
        params: dict[str, str] = {"limit": str(limit)}
        if added_after:
            params["added_after"] = added_after
        while True:
            response = self._get(url, params)
            envelope = response.json() if response.content else {}
            yield envelope, response.headers.get("X-TAXII-Date-Added-Last")
            if not envelope.get("more") or not envelope.get("next"):
                return
            params = {"limit": str(limit), "next": str(envelope["next"])}
            if added_after:
                params["added_after"] = added_after

    def push(
        self, collection_id: str, objects: list[dict[str, Any]], *, chunk_objects: int = 500
    ) -> PushResult:
        url = f"{self.api_root}collections/{collection_id}/objects/"
        result = PushResult()
        for start in range(0, len(objects), chunk_objects):
            body = json.dumps({"objects": objects[start : start + chunk_objects]})
            response = self.http.post(url, content=body, headers={"Content-Type": TAXII_MEDIA})
            self._check(response)
            result.statuses.append(response.json())
        return result


def _state(warehouse: Warehouse, url: str) -> str | None:
    warehouse.ensure_table("intel_pull_state", TABLES["intel_pull_state"])
    value = warehouse.engine.scalar("SELECT added_last FROM intel_pull_state WHERE collection_url = ?", [url])
    return str(value) if value else None


def _save_state(warehouse: Warehouse, url: str, added_last: str) -> None:
    warehouse.engine.execute("DELETE FROM intel_pull_state WHERE collection_url = ?", [url])
    row = {"collection_url": url, "added_last": added_last, "pulled_at": datetime.now(UTC)}
    warehouse.engine.register("_pull_state", pa.Table.from_pylist([row], schema=INTEL_PULL_STATE))
    try:
        warehouse.engine.execute("INSERT INTO intel_pull_state SELECT * FROM _pull_state")
    finally:
        warehouse.engine.unregister("_pull_state")


def pull_into(
    warehouse: Warehouse,
    client: TaxiiClient,
    collection_id: str,
    *,
    partner: str | None = None,
    full: bool = False,
    max_bundle_bytes: int = 64_000_000,
    max_object_bytes: int = 262_144,
) -> list[ImportReport]:
    """Import every new page of a collection; resumes where the last pull stopped."""
    url = f"{client.api_root}collections/{collection_id}/"
    added_after = None if full else _state(warehouse, url)
    reports = []
    for envelope, added_last in client.pages(collection_id, added_after=added_after):
        if envelope.get("objects"):
            raw = json.dumps({"type": "bundle", "objects": envelope["objects"]})
            reports.append(
                import_bundle(
                    warehouse,
                    raw,
                    source=url,
                    partner=partner,
                    max_bundle_bytes=max_bundle_bytes,
                    max_object_bytes=max_object_bytes,
                )
            )
        if added_last:
            _save_state(warehouse, url, added_last)
    return reports
