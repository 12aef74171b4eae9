"""`ItemStore` on a DynamoDB table: batched writes with retries, paged Queries, atomic updates."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from lambda_src import names
from lambda_src.records import to_dynamo
from lambda_src.table import Item

BATCH_SIZE = 25  # BatchWriteItem's limit
MAX_BATCH_ATTEMPTS = 8


class WriteError(Exception):
    """Items that DynamoDB still refused after every retry; `keys` says which (pk, sk)."""

    def __init__(self, message: str, keys: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.keys = list(keys)


class DynamoStore:
    """`ItemStore` on a DynamoDB table, via a low-level client (thread-safe, unlike resources)."""

    def __init__(
        self, client: Any, table: str, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.client = client
        self.table = table
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()
        self._sleep = sleep

    def _ser(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._serializer.serialize(v) for k, v in item.items()}

    def _de(self, item: Mapping[str, Any]) -> Item:
        return {k: self._deserializer.deserialize(v) for k, v in item.items()}

    def put_items(self, items: Sequence[Item]) -> None:
        # Duplicate keys in one BatchWriteItem are rejected; the last write of a key wins anyway.
        unique = {(i["pk"], i["sk"]): i for i in items}
        pending = [{"PutRequest": {"Item": self._ser(i)}} for i in unique.values()]
        for start in range(0, len(pending), BATCH_SIZE):
            self._write_batch(pending[start : start + BATCH_SIZE])

    def _write_batch(self, requests: list[dict[str, Any]]) -> None:
        for attempt in range(MAX_BATCH_ATTEMPTS):
            response = self.client.batch_write_item(RequestItems={self.table: requests})
            requests = response.get("UnprocessedItems", {}).get(self.table, [])
            if not requests:
                return
            if attempt + 1 < MAX_BATCH_ATTEMPTS:
                self._sleep(min(0.05 * 2**attempt, 5.0))
        keys = [self._key_of(r) for r in requests]
        raise WriteError(
            f"{len(requests)} items still unprocessed after {MAX_BATCH_ATTEMPTS} tries", keys
        )

    def _key_of(self, request: Mapping[str, Any]) -> tuple[str, str]:
        raw = (
            (request.get("PutRequest") or {}).get("Item")
            or (request.get("DeleteRequest") or {}).get("Key")
            or {}
        )
        key = self._de({k: raw[k] for k in ("pk", "sk") if k in raw})
        return str(key.get("pk")), str(key.get("sk"))

    def get(self, pk: str, sk: str) -> Item | None:
        response = self.client.get_item(
            TableName=self.table, Key=self._ser({"pk": pk, "sk": sk}), ConsistentRead=True
        )
        return self._de(response["Item"]) if "Item" in response else None

    def query(
        self, pk: str, sk_prefix: str = "", *, newest_first: bool = False, consistent: bool = False
    ) -> Iterator[Item]:
        yield from self._paged_query(
            **self._query_request(pk, sk_prefix, newest_first=newest_first, consistent=consistent)
        )

    def _query_request(
        self, pk: str, sk_prefix: str, *, newest_first: bool, consistent: bool
    ) -> dict[str, Any]:
        """A Query's parameters (but the table) for one partition, or one sort-key prefix."""
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": pk}
        if sk_prefix:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = sk_prefix
        return {
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": self._ser(values),
            "ScanIndexForward": not newest_first,
            "ConsistentRead": consistent,
        }

    def query_runs(self) -> Iterator[Item]:
        yield from self._paged_query(
            IndexName=names.RUNS_INDEX,
            KeyConditionExpression="gsi1pk = :runs",
            ExpressionAttributeValues={":runs": {"S": names.RUNS_INDEX_PK}},
            ScanIndexForward=False,
        )

    def _paged_query(self, **kwargs: Any) -> Iterator[Item]:
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(TableName=self.table, **kwargs):
            for raw in page.get("Items", []):
                yield self._de(raw)

    def put_new(self, item: Item) -> bool:
        try:
            self.client.put_item(
                TableName=self.table,
                Item=self._ser(item),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def delete_items(self, keys: Sequence[tuple[str, str]]) -> None:
        requests = [
            {"DeleteRequest": {"Key": self._ser({"pk": pk, "sk": sk})}} for pk, sk in set(keys)
        ]
        for start in range(0, len(requests), BATCH_SIZE):
            self._write_batch(requests[start : start + BATCH_SIZE])

    def add_counters(
        self, pk: str, sk: str, counters: Mapping[str, int], when: tuple[str, Any]
    ) -> Item | None:
        attr_names = {f"#c{i}": name for i, name in enumerate(counters)}
        values: dict[str, Any] = {f":c{i}": value for i, value in enumerate(counters.values())}
        attr_names["#when"] = when[0]
        values[":when"] = to_dynamo(when[1])
        try:
            response = self.client.update_item(
                TableName=self.table,
                Key=self._ser({"pk": pk, "sk": sk}),
                UpdateExpression="ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(counters))),
                ConditionExpression="#when = :when",
                ExpressionAttributeNames=attr_names,
                ExpressionAttributeValues=self._ser(values),
                ReturnValues="ALL_NEW",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return self._de(response["Attributes"])

    def update_if(self, pk: str, sk: str, values: Mapping[str, Any], when: tuple[str, Any]) -> bool:
        attr_names = {f"#v{i}": name for i, name in enumerate(values)}
        attr_names["#when"] = when[0]
        attr_values = {f":v{i}": to_dynamo(v) for i, v in enumerate(values.values())}
        if when[1] is None:
            # Absent, or set to null (a claim given back, see the Notifier).
            condition = "attribute_exists(pk) AND (attribute_not_exists(#when) OR #when = :null)"
            attr_values[":null"] = None
        else:
            condition = "#when = :when"
            attr_values[":when"] = to_dynamo(when[1])
        try:
            self.client.update_item(
                TableName=self.table,
                Key=self._ser({"pk": pk, "sk": sk}),
                UpdateExpression="SET " + ", ".join(f"#v{i} = :v{i}" for i in range(len(values))),
                ConditionExpression=condition,
                ExpressionAttributeNames=attr_names,
                ExpressionAttributeValues=self._ser(attr_values),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True
