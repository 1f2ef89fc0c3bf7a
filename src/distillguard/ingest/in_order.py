"""Prepare work ahead in threads, hand it back in order.

Batch ingest stages files, and follow mode stages the chunks of its backlogs, in staging
databases of their own while the warehouse takes them one at a time, in order (DuckDB's JSON
stage of the mapped formats runs on one thread, so one core would sit idle through it). Both
keep at most ``at_once`` prepared and unwritten: the next preparation starts only when the
caller comes back for the next item, so memory is bounded by settings, not by the input.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Prepared = TypeVar("Prepared")


@contextlib.contextmanager
def prepared_in_order(
    items: Sequence[Item],
    prepare: Callable[[Item], Prepared],
    *,
    at_once: int,
    discard: Callable[[Prepared], None],
    thread_name: str,
) -> Iterator[Iterator[tuple[Item, Future[Prepared]]]]:
    """``with prepared_in_order(...) as ordered: for item, future in ordered: ...``: each item
    with the future of its ``prepare``, in the order given, up to ``at_once`` prepared ahead.
    What was prepared and never handed out (the caller stopped early, or raised) is given to
    ``discard`` on leaving; a preparation that raised has nothing to discard."""
    at_once = max(1, min(at_once, len(items)))
    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix=thread_name) as workers:
        ahead: dict[int, Future[Prepared]] = {}

        def submit(index: int) -> None:
            if index < len(items) and index not in ahead:
                ahead[index] = workers.submit(prepare, items[index])

        def ordered() -> Iterator[tuple[Item, Future[Prepared]]]:
            for index in range(at_once):
                submit(index)
            for index, item in enumerate(items):
                yield item, ahead.pop(index)
                # the caller is done with this one: the next preparation may start
                submit(index + at_once)

        try:
            yield ordered()
        finally:
            for future in ahead.values():
                future.cancel()
                with contextlib.suppress(Exception):
                    discard(future.result())
