"""Scenario 5: records written to moto's server (one for the scenario, started by the parent)
through the Worker's `RecordWriter` on a `DynamoStore` (BatchWriteItem, 25 at a time), vs a
`put_item` loop on the same kind of client. Each run makes its own table (untimed), writes,
counts what is stored, and drops the table."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

from bench.measurement import Measurement

COUNT = {"tiny": 200, "full": 10_000}


@contextlib.contextmanager
def setup(size: str) -> Iterator[dict[str, str]]:
    """moto's server (lambdafan's own, `moto_main`), its endpoint for the children."""
    from bench.moto_server import moto_server, server_env

    with moto_server() as endpoint:
        yield server_env(endpoint)


def _items(count: int) -> list[dict[str, Any]]:
    return [
        {
            "pk": "run#bench#acct#123456789012",
            "sk": f"rec#{i:06d}",
            "script": "bench_script",
            "region": "us-east-1",
            "account": "123456789012",
            "resource": f"arn:aws:ec2:us-east-1:123456789012:instance/i-{i:017x}",
            "state": "running",
            "tags": {"team": "bench", "index": i},
        }
        for i in range(count)
    ]


def _write(size: str, write: Any) -> Measurement:
    import boto3

    from lambda_src.table import table_definition

    client = boto3.client(
        "dynamodb", region_name="us-east-1", endpoint_url=os.environ["AWS_ENDPOINT_URL"]
    )
    table = f"bench-{uuid.uuid4().hex[:12]}"
    client.create_table(**table_definition(table))
    items = _items(COUNT[size])
    try:
        began = time.perf_counter()
        write(client, table, items)
        wall = time.perf_counter() - began
        stored = client.describe_table(TableName=table)["Table"].get("ItemCount")
        if stored is None or stored < len(items):  # moto counts live; DynamoDB lags ~6 h
            stored = client.scan(TableName=table, Select="COUNT")["Count"]
    finally:
        client.delete_table(TableName=table)
    if stored != len(items):
        raise RuntimeError(f"{stored} of {len(items)} items stored")
    return Measurement(
        wall_s=wall, figures={"records": len(items), "records_per_s": round(len(items) / wall)}
    )


def _record_writer(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    from lambda_src.dynamo_store import DynamoStore
    from lambda_src.record_writer import RecordWriter

    with RecordWriter(DynamoStore(client, table)) as writer:
        for item in items:
            writer.put(item)
    if writer.failure is not None:
        raise writer.failure


def _put_item_loop(client: Any, table: str, items: list[dict[str, Any]]) -> None:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    for item in items:
        client.put_item(TableName=table, Item={k: serializer.serialize(v) for k, v in item.items()})


def lambdafan(size: str) -> Measurement:
    return _write(size, _record_writer)


def baseline(size: str) -> Measurement:
    return _write(size, _put_item_loop)
