"""An in-memory `ItemStore`, for `run --local` when the fleet's table does not exist."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from lambda_src.names import RUNS_INDEX_PK
from lambda_src.records import to_dynamo
from lambda_src.table import Item


class MemoryStore:
    """Items kept in a dict under one lock; the same semantics as the DynamoDB store."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Item] = {}
        self._lock = threading.Lock()

    def put_items(self, items: Sequence[Item]) -> None:
        with self._lock:
            for item in items:
                self._items[item["pk"], item["sk"]] = copy.deepcopy(item)

    def get(self, pk: str, sk: str) -> Item | None:
        with self._lock:
            item = self._items.get((pk, sk))
            return copy.deepcopy(item) if item is not None else None

    def query(
        self, pk: str, sk_prefix: str = "", *, newest_first: bool = False, consistent: bool = False
    ) -> Iterator[Item]:
        with self._lock:
            matches = sorted(
                (sk, copy.deepcopy(item))
                for (p, sk), item in self._items.items()
                if p == pk and sk.startswith(sk_prefix)
            )
        if newest_first:
            matches.reverse()
        return iter([item for _, item in matches])

    def query_runs(self) -> Iterator[Item]:
        with self._lock:
            runs = [
                copy.deepcopy(i) for i in self._items.values() if i.get("gsi1pk") == RUNS_INDEX_PK
            ]
        return iter(sorted(runs, key=lambda i: str(i["gsi1sk"]), reverse=True))

    def put_new(self, item: Item) -> bool:
        with self._lock:
            key = (item["pk"], item["sk"])
            if key in self._items:
                return False
            self._items[key] = copy.deepcopy(item)
            return True

    def delete_items(self, keys: Sequence[tuple[str, str]]) -> None:
        with self._lock:
            for key in keys:
                self._items.pop(key, None)

    def add_counters(
        self, pk: str, sk: str, counters: Mapping[str, int], when: tuple[str, Any]
    ) -> Item | None:
        with self._lock:
            item = self._items.get((pk, sk))
            if item is None or item.get(when[0]) != when[1]:
                return None
            for name, value in counters.items():
                item[name] = item.get(name, 0) + value
            # Shallow: a run item lists every account, and this runs once per account.
            return dict(item)

    def update_if(self, pk: str, sk: str, values: Mapping[str, Any], when: tuple[str, Any]) -> bool:
        with self._lock:
            item = self._items.get((pk, sk))
            if item is None or item.get(when[0]) != when[1]:
                return False
            item.update(to_dynamo(dict(values)))
            return True
