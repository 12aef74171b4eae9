"""Reading a run back from the results table: records, errors, and following a live run.

Every function takes an `ItemStore` and reads with Queries (and GetItem on a known key), never a
Scan; iterators page lazily so the CLI can print while DynamoDB is still answering. Nothing here
prints: the CLI hands what these return to `lambdafan.render.results`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lambda_src import names, runs, status, table
from lambda_src.records import from_dynamo, with_origin
from lambda_src.scripts import GLOBAL_REGION
from lambda_src.table import Item, ItemStore
from lambdafan.aws import is_not_found
from lambdafan.errors import LambdafanError, UsageError

Row = dict[str, Any]

DEFAULT_INTERVAL = 2.0
ERROR_FIELDS = (
    "account_id",
    "account_name",
    "region",
    "script",
    "error_type",
    "message",
    "collected_at",
)


@dataclass(frozen=True)
class ResultsQuery:
    """What `lambdafan results` asks for: one run, optionally narrowed."""

    run_id: str
    account: str | None = None
    script: str | None = None
    region: str | None = None
    errors: bool = False


@contextlib.contextmanager
def missing_table(table_name: str) -> Iterator[None]:
    """Turn 'table not found' from any read inside the block into a message the user can act on."""
    try:
        yield
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        raise LambdafanError(
            f"table {table_name} not found: deploy the fleet first (lambdafan deploy) "
            "or run lambdafan run --local"
        ) from None


# --- runs -------------------------------------------------------------------------------------


def find_run(store: ItemStore, run_id: str | None, table_name: str) -> Item:
    """The run item of `run_id`, or of the latest run when None."""
    if run_id is not None:
        run = table.get_run(store, run_id)
        if run is None:
            raise LambdafanError(f"run {run_id} not found")
        return run
    latest = table.latest_run(store)
    if latest is None:
        raise LambdafanError(
            f"no runs in table {table_name} yet: start one with lambdafan run --local"
        )
    return latest


def find_named_run(store: ItemStore, run_id: str | None, table_name: str) -> Item:
    """`find_run` for a run named on the command line: one that is not there, or whose id could
    not be a run id at all, is bad input (a UsageError, exit 2)."""
    if run_id is None:
        return find_run(store, None, table_name)
    try:
        return find_run(store, names.run_id_part(run_id), table_name)
    except (names.KeyPartError, LambdafanError) as exc:
        raise UsageError(str(exc)) from None


def is_running(run: Item) -> bool:
    """Whether Workers may still write to the run: it has not ended, nor passed its deadline."""
    return run.get("status") == status.RUNNING and not runs.is_overdue(run, runs.utcnow())


# --- what a query may name -------------------------------------------------------------------


def script_names(entries: Iterable[str], paths: Iterable[Path]) -> dict[str, str]:
    """Each way the user may name a configured script (its name, and its entry and file name as
    written in the config, `foo.py`) mapped to its name, the file's stem."""
    names_of: dict[str, str] = {}
    for entry, path in zip(entries, paths, strict=True):
        for spelling in (entry, Path(entry).name, path.name, path.stem):
            names_of.setdefault(spelling, path.stem)
    return names_of


def check_script(given: str, configured: Mapping[str, str], run: Item | None) -> str:
    """The script name `given` stands for: a script of the config or of the run, else a
    UsageError listing them."""
    if given in configured:
        return configured[given]
    in_run = [str(name) for name in (run or {}).get("scripts") or ()]
    if given in in_run:
        return given
    known = list(dict.fromkeys([*configured.values(), *in_run]))
    raise UsageError(f"no script {given!r} in the fleet or the run (scripts: {', '.join(known)})")


def check_region(given: str, regions: Sequence[str] | None, every: Iterable[str] = ()) -> None:
    """Fail unless `given` is one of the fleet's `regions` or `global` (account-wide scripts'
    records); a fleet of every region (None) accepts the regions in `every`."""
    if given == GLOBAL_REGION or given in (every if regions is None else regions):
        return
    if regions is None:
        raise UsageError(
            f"{given!r} is not an AWS region (the fleet runs in every region; "
            f"'{GLOBAL_REGION}' for account-wide scripts)"
        )
    raise UsageError(
        f"the fleet does not run in {given!r} (regions: {', '.join([*regions, GLOBAL_REGION])})"
    )


# --- records and errors -----------------------------------------------------------------------


def read_results(store: ItemStore, query: ResultsQuery, run: Item) -> Iterator[Row]:
    """The rows of one read of `run`: record views, or error views with `query.errors`; lazily,
    page by page, so a run of any size is printed in the memory of one page."""
    view = error_view if query.errors else record_row
    for item in _items(store, query, run, consistent=False):
        yield view(item)


def known_totals(store: ItemStore, query: ResultsQuery, run: Item) -> dict[str, int] | None:
    """Records per script of a finished run, from its done items (one Query), when the query's
    filters allow it; None when only reading every record can tell (a region filter, or a run
    still going)."""
    if is_running(run) or query.region is not None or query.errors:
        return None
    totals: dict[str, int] = {}
    for done in table.account_items(store, query.run_id):
        if query.account is not None and done["account_id"] != query.account:
            continue
        for script, count in (done.get("records_by_script") or {}).items():
            if query.script is None or script == query.script:
                totals[str(script)] = totals.get(str(script), 0) + int(count)
    return totals


def _items(store: ItemStore, query: ResultsQuery, run: Item, *, consistent: bool) -> Iterator[Item]:
    # Only the attempt each finished account's done item names counts (a duplicate or retried
    # Worker's items never show); an account still running shows what it has found so far.
    counted = table.counted_attempts(store, query.run_id)
    if query.errors:
        return _error_items(store, query, counted, consistent=consistent)
    return _record_items(store, query, run, counted, consistent=consistent)


def _record_items(
    store: ItemStore,
    query: ResultsQuery,
    run: Item,
    counted: dict[str, str],
    *,
    consistent: bool,
) -> Iterator[Item]:
    # Script and region together are a key prefix; region alone is not (scripts come first in
    # the sort key), so it is filtered here, after the Query.
    key_region = query.region if query.script is not None else None
    for account in _accounts(query, run, counted):
        for item in table.account_records(
            store,
            query.run_id,
            account,
            query.script,
            key_region,
            attempt=counted.get(account),
            consistent=consistent,
        ):
            if query.region is None or item.get("region") == query.region:
                yield item


def _accounts(query: ResultsQuery, run: Item, counted: dict[str, str]) -> Iterator[str]:
    """The accounts whose record partitions to read: finished ones, plus, while the run is still
    going, the run's other accounts (the run item lists them all)."""
    if query.account is not None:
        yield query.account
        return
    yield from counted
    if is_running(run):
        yield from (a for a in run.get("accounts") or () if a not in counted)


def _error_items(
    store: ItemStore, query: ResultsQuery, counted: dict[str, str], *, consistent: bool
) -> Iterator[Item]:
    items = table.run_errors(
        store, query.run_id, query.account, counted=counted, consistent=consistent
    )
    for item in items:
        if query.script is not None and item.get("script") != query.script:
            continue
        if query.region is not None and item.get("region") != query.region:
            continue
        yield item


def record_row(item: Item) -> Row:
    """`table.record_view`, the same row, made faster: a run's every record goes through here.
    Values of the types a DynamoDB read gives are converted by exact type; anything else is
    left to `from_dynamo`, as in `record_view`."""
    origin = {
        "account_id": item["account_id"],
        "account_name": item["account_name"],
        "region": item["region"],
        "script": item["script"],
    }
    return with_origin(origin, _plain(item.get("data") or {}))


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return value
    if kind is dict:
        return {k: _plain(v) for k, v in value.items()}
    if kind is Decimal:
        return int(value) if value == value.to_integral_value() else float(value)
    if kind is list:
        return [_plain(v) for v in value]
    return from_dynamo(value)


def error_view(item: Item) -> Row:
    """An error item as the user sees it."""
    plain = table.plain(item)
    return {name: plain.get(name) for name in ERROR_FIELDS}


def require_account(store: ItemStore, run: Item, account: str) -> None:
    """Fail unless `account` took part in the run: it finished, or left a record or an error."""
    run_id = str(run["run_id"])
    if store.get(names.run_pk(run_id), names.account_sk(account)) is not None:
        return
    records = store.query(names.records_pk(run_id, account), names.record_sk_prefix())
    errors = table.run_errors(store, run_id, account)
    if next(records, None) is not None or next(errors, None) is not None:
        return
    still = " (yet: the run is still running)" if is_running(run) else ""
    raise LambdafanError(f"account {account} has no results in run {run_id}{still}")


# --- following a running run ------------------------------------------------------------------


def follow_results(
    store: ItemStore,
    query: ResultsQuery,
    *,
    interval: float = DEFAULT_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Row]:
    """Rows of a run as they arrive, each once, like `tail -f`; ends when the run is complete.

    Each pass reads the run's status *before* its items: when that status is already `complete`
    every item was written before the pass began, so that pass is the final, complete read.
    Passes over a finished run use strongly consistent Queries so the final read misses nothing.
    """
    seen: set[tuple[str, str]] = set()
    view = error_view if query.errors else record_row
    while True:
        started = clock()
        run = table.get_run(store, query.run_id)
        if run is None:
            raise LambdafanError(f"run {query.run_id} not found")
        running = is_running(run)
        for item in _items(store, query, run, consistent=not running):
            key = (str(item["pk"]), str(item["sk"]))
            if key not in seen:
                seen.add(key)
                yield view(item)
        if not running:
            return
        # Poll every `interval` seconds, not `interval` plus however long the pass took.
        sleep(max(0.0, interval - (clock() - started)))
