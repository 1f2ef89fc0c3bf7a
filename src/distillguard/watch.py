"""Continuous detection: follow the logs, re-scan as data arrives, publish the verdicts.

``Watcher`` runs follow mode (``ingest.follow``) and, every ``watch_every_seconds``,
a detection pass over the warehouse when new records were committed since the last
pass; an interval with nothing new costs nothing. A pass is ``scan`` followed by the
same publication ``scan --publish`` does (``serve.publish``):

- ``redis://``: the verdict snapshot is written where every service replica loads it;
  the warehouse stays open, so follow mode pauses only for the pass itself.
- ``http(s)://``: a running ``distillguard serve`` is asked to reload from the
  warehouse. DuckDB lets one process write a file or many read it, so the watcher
  closes the warehouse while the service reads it and opens it again after.

With Redis (or no publication) a pass runs in a second thread on its own connection to
the same database, so follow mode keeps reading while it runs; the pass sees what was
committed when it started (DuckDB's snapshot isolation). With an HTTP target the pass
runs in the follow thread (the file must be closed for the reload): lines wait in
their files meanwhile (nothing is lost) and follow catches up after it.

The prompt level, most of a full scan's cost, costs in proportion to what is new: a pass
matches only the request texts and responses no earlier pass matched under the same rules
(``prompt_matches``; template families are still counted over the whole window). The levels
after it (subjects, graph, scoring) still recompute every table. Every pass's cost is
recorded (``PassReport``) so it can be measured against the traffic it covered.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from distillguard.config import Config, memory_limit
from distillguard.engine import sql_string
from distillguard.ingest.follow import Follower
from distillguard.warehouse import Warehouse

log = logging.getLogger("distillguard.watch")


@dataclass
class PassReport:
    """What one detection pass covered and cost."""

    finished_at: str
    new_records: int  # records committed since the previous pass
    events: int  # events in the warehouse when the pass ran
    scan_s: float
    publish_s: float
    verdicts: dict[str, int] = field(default_factory=dict)
    flagged_accounts: list[str] = field(default_factory=list)  # verdict watch or extraction
    published: str | None = None
    publish_error: str | None = None


class Watcher:
    """Follow ``paths`` into the warehouse and run a detection pass every ``every_s`` seconds."""

    def __init__(
        self,
        config: Config,
        paths: Sequence[str | Path],
        *,
        every_s: float | None = None,
        publish: str | None = None,
        source_format: str | None = None,
        accounts: str | Path | None = None,
        on_pass: Callable[[PassReport], None] | None = None,
    ) -> None:
        from distillguard.serve.publish import target_scheme

        if publish:
            target_scheme(publish)  # a typo fails now, not after the first interval
        self.config = config
        self.paths = list(paths)
        self.every_s = float(every_s if every_s is not None else config.watch_every_seconds)
        self.publish = publish
        self.source_format = source_format
        if accounts is not None and not Path(accounts).is_file():
            raise FileNotFoundError(f"{accounts}: no such accounts file")
        self.accounts = accounts
        self.on_pass = on_pass
        self.passes: list[PassReport] = []
        self.follower: Follower | None = None  # while running: its stats say how far it has read
        self._pass_warehouse: Warehouse | None = None  # the passes' own connection (concurrent mode)

    def run(self, stop: threading.Event) -> None:
        """Until ``stop`` is set; the last records read are committed before returning."""
        warehouse = self._open()
        if self.accounts is not None:
            from distillguard.ingest.accounts import load_accounts

            load_accounts(warehouse, self.accounts, config=self.config)
        follower = Follower(warehouse, self.paths, config=self.config, source_format=self.source_format)
        self.follower = follower
        covered = 0
        last_pass = time.monotonic()
        running: threading.Thread | None = None
        try:
            while not stop.is_set():
                if follower.poll() == 0:
                    stop.wait(follower.poll_seconds)
                if time.monotonic() - last_pass < self.every_s or (
                    running is not None and running.is_alive()
                ):
                    continue
                follower.commit()
                new = follower.stats.committed_records - covered
                if new > 0:  # an interval with nothing new costs nothing
                    covered = follower.stats.committed_records
                    if self.concurrent:
                        running = threading.Thread(target=self._background_pass, args=(new,), daemon=True)
                        running.start()
                    else:
                        follower.warehouse = self._guarded_pass(follower.warehouse, new)
                last_pass = time.monotonic()
        finally:
            follower.commit()
            if running is not None:
                running.join()  # a pass in flight finishes (and publishes) before the process ends
            follower.close()
            follower.warehouse.close()
            if self._pass_warehouse is not None:
                self._pass_warehouse.close()
                self._pass_warehouse = None

    @property
    def concurrent(self) -> bool:
        """Passes run beside follow mode, on their own connection, unless the service must read the file.

        An HTTP reload needs the warehouse closed (one writing process per DuckDB file), which
        follow mode cannot do mid-read; Redis (or no publication) needs nothing of the sort.
        """
        from distillguard.serve.publish import HTTP_SCHEMES, target_scheme

        return not self.publish or target_scheme(self.publish) not in HTTP_SCHEMES

    def _background_pass(self, new_records: int) -> None:
        # A second connection to the same database, in this process, kept for every pass: the
        # scan registers its SQL functions once per connection and DuckDB keeps them.
        if self._pass_warehouse is None:
            self._pass_warehouse = self._open()
        self._pass_warehouse = self._guarded_pass(self._pass_warehouse, new_records)

    def _guarded_pass(self, warehouse: Warehouse, new_records: int) -> Warehouse:
        """A failed pass is logged and retried at the next interval; follow mode goes on."""
        try:
            return self.detection_pass(warehouse, new_records)
        except Exception:
            log.exception("a detection pass failed; the next interval tries again")
            return warehouse

    def _open(self) -> Warehouse:
        """The warehouse held to ingest's memory limit (scan sets its own while it runs)."""
        warehouse = Warehouse.open(self.config.db_path)
        limit = memory_limit(self.config, "ingest_memory_limit")
        if limit:
            warehouse.engine.execute(f"SET memory_limit = {sql_string(limit)}")
        return warehouse

    def detection_pass(self, warehouse: Warehouse, new_records: int) -> Warehouse:
        """Scan, then publish; returns the warehouse to go on with (reopened after an HTTP reload).

        ``run`` calls it every interval; a caller that drives follow mode itself (the live
        detection bench's replayed-time cadence) calls it directly. Its report is the last
        of ``passes``."""
        from distillguard.scan import scan
        from distillguard.serve import publish as publisher

        started = time.perf_counter()
        result = scan(warehouse, self.config)
        scanned = time.perf_counter()
        flagged = (
            warehouse.engine.to_arrow(
                "SELECT account_id FROM account_scores WHERE verdict <> 'ok' ORDER BY account_id"
            )
            .column("account_id")
            .to_pylist()
        )
        report = PassReport(
            finished_at="",
            new_records=new_records,
            events=result.events,
            scan_s=scanned - started,
            publish_s=0.0,
            verdicts=dict(result.verdicts),
            flagged_accounts=[str(a) for a in flagged],
        )
        if self.publish:
            scheme = publisher.target_scheme(self.publish)
            try:
                if scheme in publisher.REDIS_SCHEMES:
                    snapshot = publisher.verdict_snapshot(warehouse, self.config)
                    report.published = publisher.push_verdicts(self.publish, self.config, snapshot)
                else:
                    warehouse.close()  # the service opens it read-only to reload
                    try:
                        report.published = publisher.push_verdicts(self.publish, self.config)
                    finally:
                        warehouse = self._open()
            except publisher.PublishError as exc:
                report.publish_error = str(exc)  # the next pass tries again; follow goes on
                log.warning("publishing the verdicts failed: %s", exc)
        report.publish_s = time.perf_counter() - scanned
        report.finished_at = datetime.now(UTC).isoformat()
        self.passes.append(report)
        if self.on_pass is not None:
            self.on_pass(report)
        return warehouse


def pass_line(report: PassReport) -> str:
    """One JSON line per pass (for a log file or a bench), flagged accounts included."""
    return json.dumps(asdict(report), sort_keys=True)
