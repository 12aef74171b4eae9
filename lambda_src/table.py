"""The results table: its item shapes and the reads (DynamoDB access is `lambda_src.dynamo_store`).

Items are built here; their keys, and the layout of the table, are in `lambda_src.names`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any, Protocol

from lambda_src import names, status
from lambda_src.records import from_dynamo, to_dynamo, with_origin

Item = dict[str, Any]

TTL_ATTRIBUTE = "expires_at"
PRINTED_ONLY = "printed_only"  # an account item's pairs that printed and yielded nothing
ACCOUNT_WIDE = names.WILDCARD  # script and region of an error that stops a whole account


class ItemStore(Protocol):
    """What the run lifecycle needs from storage: DynamoDB in the cloud, memory on a laptop."""

    def put_items(self, items: Sequence[Item]) -> None:
        """Write items, overwriting any with the same key."""

    def put_new(self, item: Item) -> bool:
        """Write an item only if none has its key; False (and no change) if one does."""

    def delete_items(self, keys: Sequence[tuple[str, str]]) -> None:
        """Delete items by (pk, sk); absent ones are fine."""

    def get(self, pk: str, sk: str) -> Item | None:
        """Read one item, strongly consistent."""

    def query(
        self, pk: str, sk_prefix: str = "", *, newest_first: bool = False, consistent: bool = False
    ) -> Iterator[Item]:
        """Items of one partition whose sort key starts with `sk_prefix`, paged lazily."""

    def query_runs(self) -> Iterator[Item]:
        """Run items, newest first, from the `runs` index."""

    def add_counters(
        self, pk: str, sk: str, counters: Mapping[str, int], when: tuple[str, Any]
    ) -> Item | None:
        """Atomically add `counters` to an existing item if attribute `when[0]` equals
        `when[1]`; the updated item, or None (and no change) otherwise."""

    def update_if(self, pk: str, sk: str, values: Mapping[str, Any], when: tuple[str, Any]) -> bool:
        """Set attributes only if attribute `when[0]` equals `when[1]` (None: is absent);
        False otherwise."""


def record_digest(record: Mapping[str, Any], key: Sequence[str] = ()) -> str:
    """Digest of a converted record's identity: its `key` fields when it has them all, else
    its whole content. Same identity, same digest."""
    identity = {k: record[k] for k in key} if key and all(k in record for k in key) else record
    canonical = json.dumps(identity, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:24]


# --- item builders --------------------------------------------------------------------------


def run_item(
    run_id: str,
    *,
    started_at: str,
    accounts_expected: int,
    scripts: Sequence[str],
    trigger: str,
    expires_at: int,
    deadline_at: str,
    accounts: Sequence[str] = (),
    home_region: str | None = None,
    partial: bool = False,
) -> Item:
    """The run item, created by the Director before any Worker starts. It lists the run's
    account ids, so readers can find records of accounts that have not finished yet and a
    retried Director can resume, and its deadline, past which it is closed as incomplete.
    Its `home_region` prices its usage (`lambda_src.run_cost`); invocations add `usage_*`
    counters to it as they end."""
    return {
        "pk": names.run_pk(run_id),
        "sk": names.RUN_SK,
        "kind": "run",
        "gsi1pk": names.RUNS_INDEX_PK,
        "gsi1sk": run_id,
        "run_id": run_id,
        "status": status.RUNNING,
        "trigger": trigger,
        "started_at": started_at,
        "deadline_at": deadline_at,
        "scripts": list(scripts),
        "accounts": list(accounts),
        "accounts_expected": accounts_expected,
        "accounts_done": 0,
        "accounts_failed": 0,
        "records": 0,
        "errors": 0,
        **({"home_region": home_region} if home_region else {}),
        # Started for some accounts or scripts only: not what a full run is compared with.
        **({"partial": True} if partial else {}),
        TTL_ATTRIBUTE: expires_at,
    }


def usage_item(
    run_id: str,
    function: str,
    attempt: str,
    *,
    counters: Mapping[str, int],
    recorded_at: str,
    expires_at: int,
) -> Item:
    """One invocation's usage (billed duration, request units, ...), written once per
    (function, attempt): the gate that adds it to the run item's `usage_*` counters once."""
    return {
        "pk": names.run_pk(run_id),
        "sk": names.usage_sk(function, attempt),
        "kind": "usage",
        "run_id": run_id,
        "function": function,
        "attempt": attempt,
        "recorded_at": recorded_at,
        **dict(counters),
        TTL_ATTRIBUTE: expires_at,
    }


def account_done_item(
    run_id: str,
    account_id: str,
    account_name: str,
    *,
    records_by_script: Mapping[str, int],
    errors: int,
    failed: bool,
    finished_at: str,
    expires_at: int,
    attempt: str,
    printed_only: Sequence[str] = (),
) -> Item:
    """Marks one account finished; written once per (run, account), naming the attempt whose
    records and errors count, and its pairs that printed but yielded nothing ("script region")."""
    item: Item = {
        "pk": names.run_pk(run_id),
        "sk": names.account_sk(account_id),
        "kind": "account",
        "run_id": run_id,
        "account_id": account_id,
        "account_name": account_name,
        "records": sum(records_by_script.values()),
        "records_by_script": dict(records_by_script),
        "errors": errors,
        "failed": failed,
        "attempt": attempt,
        "finished_at": finished_at,
        TTL_ATTRIBUTE: expires_at,
    }
    if printed_only:
        item[PRINTED_ONLY] = list(printed_only)
    return item


def record_item(
    run_id: str,
    account_id: str,
    account_name: str,
    script: str,
    region: str,
    record: Mapping[str, Any],
    *,
    collected_at: str,
    expires_at: int,
    seen: MutableMapping[str, int],
    attempt: str,
    key: Sequence[str] = (),
) -> Item:
    """One record of one attempt. `seen` counts digests within one (script, region) so that
    records with the same identity yielded by one pair get distinct, deterministic keys."""
    data = to_dynamo(record)
    digest = record_digest(data, key)
    occurrence = seen.get(digest, 0)
    seen[digest] = occurrence + 1
    suffix = f"{digest}.{occurrence}" if occurrence else digest
    return {
        "pk": names.records_pk(run_id, account_id),
        "sk": names.record_sk(script, region, attempt, suffix),
        "kind": "record",
        "run_id": run_id,
        "account_id": account_id,
        "account_name": account_name,
        "script": script,
        "region": region,
        "attempt": attempt,
        "collected_at": collected_at,
        "data": data,
        TTL_ATTRIBUTE: expires_at,
    }


def error_item(
    run_id: str,
    account_id: str,
    account_name: str,
    script: str,
    region: str,
    *,
    error_type: str,
    message: str,
    collected_at: str,
    expires_at: int,
    attempt: str,
) -> Item:
    """The failure of one (account, script, region), or of a whole account (script `*`), in
    one attempt."""
    return {
        "pk": names.run_pk(run_id),
        "sk": names.error_sk(account_id, script, region, attempt),
        "attempt": attempt,
        "kind": "error",
        "run_id": run_id,
        "account_id": account_id,
        "account_name": account_name,
        "script": script,
        "region": region,
        "error_type": error_type,
        "message": message[:2000],
        "collected_at": collected_at,
        TTL_ATTRIBUTE: expires_at,
    }


# DynamoDB's item limit is 400 KB; keep a margin for the size of attribute names and numbers.
MAX_ITEM_BYTES = 390_000


def too_large(item: Item) -> bool:
    """Whether an item would exceed DynamoDB's item size limit (JSON size as the estimate)."""
    return len(json.dumps(item, default=str).encode("utf-8")) > MAX_ITEM_BYTES


# --- reads the CLI and the Notifier use (all Queries) ---------------------------------------


def latest_run(store: ItemStore) -> Item | None:
    """The newest run item, or None when the table holds no run."""
    return next(iter(store.query_runs()), None)


def get_run(store: ItemStore, run_id: str) -> Item | None:
    return store.get(names.run_pk(run_id), names.RUN_SK)


def account_items(store: ItemStore, run_id: str) -> Iterator[Item]:
    """The accounts that finished in a run, strongly consistent."""
    return store.query(names.run_pk(run_id), names.ACCOUNT_SK_PREFIX, consistent=True)


def counted_attempts(store: ItemStore, run_id: str) -> dict[str, str]:
    """For each finished account, the attempt its done item names: the one whose items count."""
    return {str(a["account_id"]): str(a.get("attempt", "")) for a in account_items(store, run_id)}


def counts(item: Item, counted: Mapping[str, str]) -> bool:
    """Whether a record or error item is one that counts: its account's counted attempt, or,
    for an account still running, any attempt (what it has found so far)."""
    attempt = counted.get(str(item["account_id"]))
    return attempt is None or item.get("attempt") == attempt


def run_errors(
    store: ItemStore,
    run_id: str,
    account_id: str | None = None,
    *,
    counted: Mapping[str, str] | None = None,
    consistent: bool = False,
) -> Iterator[Item]:
    """The errors that count in a run (or one account), in key order."""
    if counted is None:
        counted = counted_attempts(store, run_id)
    items = store.query(
        names.run_pk(run_id), names.error_sk_prefix(account_id), consistent=consistent
    )
    return (item for item in items if counts(item, counted))


def account_records(
    store: ItemStore,
    run_id: str,
    account_id: str,
    script: str | None = None,
    region: str | None = None,
    *,
    attempt: str | None = None,
    consistent: bool = False,
) -> Iterator[Item]:
    """One account's records in a run, optionally of one script and region; with `attempt`,
    only that attempt's (the counted one, once the account is done)."""
    items = store.query(
        names.records_pk(run_id, account_id),
        names.record_sk_prefix(script, region),
        consistent=consistent,
    )
    return (item for item in items if attempt is None or item.get("attempt") == attempt)


def run_records(store: ItemStore, run_id: str, script: str | None = None) -> Iterator[Item]:
    """Every counted record of a run: one Query per finished account, paged lazily."""
    for account in account_items(store, run_id):
        yield from account_records(
            store, run_id, account["account_id"], script, attempt=str(account.get("attempt", ""))
        )


def record_view(item: Item) -> Item:
    """A record item as the user sees it: where it came from, then the record's own fields."""
    origin = {name: item[name] for name in ("account_id", "account_name", "region", "script")}
    return with_origin(origin, from_dynamo(item.get("data") or {}))


def plain(item: Item) -> Item:
    """An item with DynamoDB numbers turned back into ints and floats."""
    result = from_dynamo(item)
    assert isinstance(result, dict)
    return result


# --- DynamoDB ---------------------------------------------------------------------------------


def table_definition(name: str) -> dict[str, Any]:
    """`create_table` arguments for the keys and index above (deploy adds tags, SSE and TTL)."""
    attributes = ("pk", "sk", "gsi1pk", "gsi1sk")
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attributes],
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": names.RUNS_INDEX,
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
