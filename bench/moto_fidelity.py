"""Where in-process moto is slower than AWS in ways that would measure moto, not the tool.

Both patches keep moto's answers; they only stop it doing work AWS does not:
- `lock_backends_once`: moto takes one process-wide lock on every request to find the
  account's backend (`BackendDict._create_account_specific_backend`); at 100+ threads that lock
  set the pace (millions of futex calls). Now it is taken only to make a backend.
- `query_by_partition`: moto answers a DynamoDB Query on a table's own key by sorting every item
  of the table and filtering by partition key (O(table) per page: 2,000 records' run took 3x
  longer than its memory-store twin); DynamoDB reads the partition. Now moto does too.
Applied for every tool of a scenario alike.
"""

from __future__ import annotations

import inspect
import threading
from typing import Any


def lock_backends_once() -> None:
    """Find an existing account backend without moto's global lock (made ones are only read)."""
    from moto.core.base_backend import BackendDict

    make: Any = BackendDict._create_account_specific_backend
    if getattr(make, "bench_patched", False):
        return
    made: set[tuple[int, str]] = set()

    def once(self: Any, account_id: str) -> None:
        if (id(self), account_id) not in made or not dict.__contains__(self, account_id):
            make(self, account_id)
            made.add((id(self), account_id))

    once.bench_patched = True  # type: ignore[attr-defined]
    BackendDict._create_account_specific_backend = once  # type: ignore[method-assign]


def query_by_partition() -> None:
    """A Query on a table's own key reads that partition's items, not the whole table."""
    from moto.dynamodb.models.table import Table

    query: Any = Table.query
    if getattr(query, "bench_patched", False):
        return
    all_items: Any = Table.all_items
    signature = inspect.signature(query)
    local = threading.local()  # the partition this thread's Query reads, while it runs

    def partition_items(self: Any) -> list[Any]:
        asked = getattr(local, "partition", None)
        if asked is not None and asked[0] is self:
            return list(self.items.get(asked[1], {}).values())
        result: list[Any] = all_items(self)
        return result

    def partition_query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        hash_key, index = bound.arguments.get("hash_key"), bound.arguments.get("index_name")
        if index is not None or hash_key is None or not self.range_key_attr:
            return query(self, *args, **kwargs)
        local.partition = (self, hash_key)
        try:
            return query(self, *args, **kwargs)
        finally:
            local.partition = None

    partition_query.bench_patched = True  # type: ignore[attr-defined]
    Table.all_items = partition_items  # type: ignore[method-assign]
    Table.query = partition_query  # type: ignore[method-assign]
