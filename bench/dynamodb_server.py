"""Bench helper: a small, fast DynamoDB for `lambdafan results` (scenario 8), stdlib only.

moto's Query spends seconds per 1,000-item page on a 100k-item table, so it would measure moto.
This server speaks DynamoDB's JSON 1.0 protocol for exactly what `results` calls (`Query`, on
the table or its `runs` index, with `pk = :v [AND begins_with(sk, :p)]`; `GetItem`) over one
pre-generated table of N records shaped as the Worker writes them (the run item, one done item
per account, the records), built with `lambda_src`'s own item builders and run lifecycle.
Every item is serialised to DynamoDB JSON once, at start; a page is a join of those fragments
cut like DynamoDB's (1 MB of item size, or `Limit`; `LastEvaluatedKey`), kept once built.
Anything else is answered with a ValidationException, so a new call shows up in the bench.

    python -m bench.dynamodb_server --records 100000   # prints one JSON line when ready

`dynamodb_server(records)` starts it in its own process and stops it by its pid.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import datetime as dt
import json
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FLEET = "bench"
TABLE = "bench-results"  # names.table_name(FLEET)
REGION = "us-east-1"
ACCOUNTS = 20
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1")
SCRIPT = "ec2_instances"
PAGE_BYTES = 1024 * 1024  # a Query page holds at most 1 MB of items
TARGET_PREFIX = "DynamoDB_20120810."
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
INDEX_KEYS = {"runs": ("gsi1pk", "gsi1sk")}


# --- the table: what a finished run of N records leaves ---------------------------------------


def account_ids(count: int = ACCOUNTS) -> list[str]:
    return [f"{100000000000 + i * 7919:012d}" for i in range(count)]


def _record(account: str, region: str, n: int) -> dict[str, Any]:
    """What the built-in ec2_instances script yields for one instance."""
    return {
        "instance_id": f"i-{int(account) % 10**8:08x}{n:09x}",
        "type": ("t3.micro", "m5.large", "c6g.xlarge")[n % 3],
        "state": "running" if n % 5 else "stopped",
        "launch_time": dt.datetime(2026, 1, 1 + n % 28, n % 24, n % 60, tzinfo=dt.timezone.utc),
        "private_ip": f"10.{n % 256}.{n // 256 % 256}.{n % 7 + 4}",
        "public_ip": None if n % 4 else f"54.{n % 256}.{n // 256 % 256}.9",
        "vpc_id": f"vpc-{int(account) % 10**6:06x}{n % 4:02x}",
        "name": f"app-{region}-{n}",
        "tags": {
            "Name": f"app-{region}-{n}",
            "team": ("core", "data", "web")[n % 3],
            "env": "prod",
        },
    }


def build_items(records: int, accounts: int = ACCOUNTS) -> list[dict[str, Any]]:
    """Every item of one complete run of `records` ec2_instances records over `accounts`
    accounts × 4 regions, written by `lambda_src`'s run lifecycle and item builders."""
    from lambda_src import names, runs, table
    from lambdafan.memory_store import MemoryStore

    store = MemoryStore()
    now = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.timezone.utc)
    run_id = runs.new_run_id(now)
    ids = account_ids(accounts)
    runs.start_run(
        store,
        run_id,
        accounts=ids,
        scripts=[SCRIPT],
        trigger="schedule",
        now=now,
        ttl_days=30,
        worker_timeout_s=900,
        home_region=REGION,
    )
    pairs = [(a, r) for a in ids for r in REGIONS]
    per_pair, extra = divmod(records, len(pairs))
    # One Worker invocation (attempt) per account, one thread per (script, region).
    attempts = {account: f"{i:08x}" for i, account in enumerate(ids)}
    items: list[dict[str, Any]] = []
    by_account: dict[str, int] = {}
    for index, (account, region) in enumerate(pairs):
        seen: dict[str, int] = {}
        count = per_pair + (index < extra)
        by_account[account] = by_account.get(account, 0) + count
        for n in range(count):
            items.append(
                table.record_item(
                    run_id,
                    account,
                    f"acct-{account[-4:]}",
                    SCRIPT,
                    region,
                    _record(account, region, n),
                    collected_at=runs.iso(now + dt.timedelta(seconds=n % 90)),
                    expires_at=runs.expiry(now, 30),
                    seen=seen,
                    attempt=attempts[account],
                    key=("instance_id",),
                )
            )
    done_at = now + dt.timedelta(minutes=2)
    for account in ids:
        runs.finish_account(
            store,
            run_id,
            account,
            f"acct-{account[-4:]}",
            records_by_script={SCRIPT: by_account.get(account, 0)},
            errors=0,
            failed=False,
            attempt=attempts[account],
            now=done_at,
            ttl_days=30,
        )
    return [*store.query(names.run_pk(run_id)), *items]


# --- DynamoDB JSON, item size ------------------------------------------------------------------


def wire(value: Any) -> dict[str, Any]:
    """A plain value as a DynamoDB AttributeValue."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, (int, Decimal)):
        return {"N": str(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): wire(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [wire(v) for v in value]}
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")


def _size(attr: Mapping[str, Any]) -> int:
    """An AttributeValue's size as DynamoDB counts it (close enough for paging)."""
    ((kind, value),) = attr.items()
    if kind == "S":
        return len(value.encode("utf-8"))
    if kind == "N":
        return len(value.lstrip("-").replace(".", "")) // 2 + 2
    if kind in ("NULL", "BOOL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode("utf-8")) + _size(v) + 1 for k, v in value.items())
    if kind == "L":
        return 3 + sum(_size(v) + 1 for v in value)
    return len(str(value))


def item_size(item: Mapping[str, Any]) -> int:
    return sum(len(k.encode("utf-8")) + _size(v) for k, v in item.items())


class Partition:
    """One partition of the table or of an index: its items' sort keys in order, and for each
    item its DynamoDB JSON, its size, and its key as a `LastEvaluatedKey` (only these are kept:
    a page is made of them)."""

    def __init__(self, rows: list[tuple[str, dict[str, Any]]], key_names: Sequence[str]) -> None:
        rows.sort(key=lambda row: row[0])
        self.sort_keys = [sk for sk, _ in rows]
        self.fragments = [json.dumps(item, separators=(",", ":")) for _, item in rows]
        self.sizes = [item_size(item) for _, item in rows]
        self.keys = [
            json.dumps({n: item[n] for n in key_names}, separators=(",", ":")) for _, item in rows
        ]


class Table:
    """The table of one run, its `runs` index, and the pages served so far."""

    def __init__(self, name: str, items: Sequence[Mapping[str, Any]]) -> None:
        self.name = name
        grouped: dict[tuple[str | None, str], list[tuple[str, dict[str, Any]]]] = {}
        for plain in items:
            item = {k: wire(v) for k, v in plain.items()}
            grouped.setdefault((None, plain["pk"]), []).append((plain["sk"], item))
            for index, (hash_key, range_key) in INDEX_KEYS.items():
                if hash_key in plain and range_key in plain:
                    grouped.setdefault((index, plain[hash_key]), []).append(
                        (plain[range_key], item)
                    )
        self.partitions = {
            (index, pk): Partition(rows, _key_names(index)) for (index, pk), rows in grouped.items()
        }
        self.records = sum(1 for i in items if i.get("kind") == "record")
        self.run_id = next(str(i["run_id"]) for i in items if i.get("kind") == "run")
        self._pages: dict[tuple[Any, ...], bytes] = {}
        self._lock = threading.Lock()

    def item(self, pk: str, sk: str) -> str | None:
        """One item's DynamoDB JSON, by its key."""
        part = self.partitions.get((None, pk))
        if part is None:
            return None
        i = bisect.bisect_left(part.sort_keys, sk)
        found = i < len(part.sort_keys) and part.sort_keys[i] == sk
        return part.fragments[i] if found else None

    def page(
        self,
        index: str | None,
        pk: str,
        prefix: str,
        forward: bool,
        start: str | None,
        limit: int | None,
    ) -> bytes:
        """One Query page: items of `pk` whose sort key starts with `prefix`, after `start`."""
        part = self.partitions.get((index, pk))
        if part is None:
            return b'{"Items":[],"Count":0,"ScannedCount":0}'
        keys = part.sort_keys
        lo = bisect.bisect_left(keys, prefix)
        hi = bisect.bisect_left(keys, _after_prefix(prefix)) if prefix else len(keys)
        if forward:
            lo = max(lo, bisect.bisect_right(keys, start)) if start is not None else lo
        elif start is not None:
            hi = min(hi, bisect.bisect_left(keys, start))
        cache_key = (index, pk, lo, hi, forward, limit)
        with self._lock:
            cached = self._pages.get(cache_key)
        if cached is not None:
            return cached
        positions = range(lo, hi) if forward else range(hi - 1, lo - 1, -1)
        taken: list[int] = []
        used = 0
        for i in positions:
            if taken and (used + part.sizes[i] > PAGE_BYTES or len(taken) == limit):
                break
            taken.append(i)
            used += part.sizes[i]
        body = ",".join(part.fragments[i] for i in taken)
        more = bool(taken) and (taken[-1] < hi - 1 if forward else taken[-1] > lo)
        tail = f',"LastEvaluatedKey":{part.keys[taken[-1]]}' if more else ""
        page = f'{{"Items":[{body}],"Count":{len(taken)},"ScannedCount":{len(taken)}{tail}}}'
        data = page.encode("utf-8")
        with self._lock:
            self._pages[cache_key] = data
        return data

    def warm(self) -> None:
        """Build every page a full read of each partition returns, before anyone asks."""
        for index, pk in self.partitions:
            start: str | None = None
            while True:
                page = json.loads(self.page(index, pk, "", index is None, start, None))
                lek = page.get("LastEvaluatedKey")
                if not lek:
                    break
                start = lek["sk" if index is None else INDEX_KEYS[index][1]]["S"]


def _key_names(index: str | None) -> tuple[str, ...]:
    """The attributes of a `LastEvaluatedKey` on the table or an index."""
    return ("pk", "sk") if index is None else (*INDEX_KEYS[index], "pk", "sk")


def _after_prefix(prefix: str) -> str:
    """The least string greater than every string that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


# --- the protocol ------------------------------------------------------------------------------


class BadRequest(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_EQ = r"\s*(#?\w+)\s*=\s*(:\w+)\s*"
_KEY_EQ = re.compile(rf"^{_EQ}$")
_KEY_PREFIX = re.compile(
    rf"^{_EQ}\s+AND\s+begins_with\s*\(\s*(#?\w+)\s*,\s*(:\w+)\s*\)\s*$", re.IGNORECASE
)
QUERY_PARAMS = {
    "TableName",
    "IndexName",
    "KeyConditionExpression",
    "ExpressionAttributeValues",
    "ExpressionAttributeNames",
    "ScanIndexForward",
    "ConsistentRead",
    "ExclusiveStartKey",
    "Limit",
    "ReturnConsumedCapacity",
}
GET_PARAMS = {"TableName", "Key", "ConsistentRead", "ReturnConsumedCapacity"}


def _string(value: Any, what: str) -> str:
    if not isinstance(value, dict) or "S" not in value:
        raise BadRequest("ValidationException", f"{what}: only string keys are served here")
    return str(value["S"])


class DynamoHandler:
    """The operations, on one table; `calls` counts them by name."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def handle(self, operation: str, request: dict[str, Any]) -> bytes:
        with self._lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1
        if operation == "Query":
            return self.query(request)
        if operation == "GetItem":
            return self.get_item(request)
        raise BadRequest("ValidationException", f"{operation} is not served by the bench server")

    def _check(self, request: Mapping[str, Any], allowed: set[str]) -> None:
        unknown = set(request) - allowed
        if unknown:
            raise BadRequest("ValidationException", f"not served: {', '.join(sorted(unknown))}")
        if request.get("TableName") != self.table.name:
            raise BadRequest(
                "ResourceNotFoundException", "Requested resource not found: Table not found"
            )

    def get_item(self, request: dict[str, Any]) -> bytes:
        self._check(request, GET_PARAMS)
        key = request.get("Key") or {}
        if set(key) != {"pk", "sk"}:
            raise BadRequest("ValidationException", "the key is pk and sk")
        found = self.table.item(_string(key["pk"], "pk"), _string(key["sk"], "sk"))
        return b"{}" if found is None else f'{{"Item":{found}}}'.encode()

    def query(self, request: dict[str, Any]) -> bytes:
        self._check(request, QUERY_PARAMS)
        index = request.get("IndexName")
        if index is not None and index not in INDEX_KEYS:
            raise BadRequest("ValidationException", f"no index {index}")
        hash_key, range_key = ("pk", "sk") if index is None else INDEX_KEYS[index]
        names = request.get("ExpressionAttributeNames") or {}
        values = request.get("ExpressionAttributeValues") or {}
        condition = str(request.get("KeyConditionExpression", ""))
        prefix = ""
        matched = _KEY_PREFIX.match(condition) or _KEY_EQ.match(condition)
        if matched is None:
            raise BadRequest("ValidationException", f"condition not served: {condition}")
        parts = matched.groups()
        if names.get(parts[0], parts[0]) != hash_key:
            raise BadRequest("ValidationException", f"the hash key is {hash_key}")
        if len(parts) == 4:
            if names.get(parts[2], parts[2]) != range_key:
                raise BadRequest("ValidationException", f"the range key is {range_key}")
            prefix = _string(values.get(parts[3]), parts[3])
        pk = _string(values.get(parts[1]), parts[1])
        start = request.get("ExclusiveStartKey")
        limit = request.get("Limit")
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise BadRequest("ValidationException", "Limit must be at least 1")
        return self.table.page(
            index,
            pk,
            prefix,
            bool(request.get("ScanIndexForward", True)),
            None if not start else _string(start.get(range_key), "ExclusiveStartKey"),
            limit,
        )


class _Http(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses its connections
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm holds the
        # body until the client's delayed ACK (40 ms a request).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        # botocore sends a request's headers and body in two writes, and Nagle's algorithm
        # holds the body until these headers are ACKed: ACK now, not after the delayed-ACK
        # timer (tens of ms a request). Linux only; the option lasts until the next read.
        if hasattr(socket, "TCP_QUICKACK"):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        target = self.headers.get("X-Amz-Target", "")
        status = 200
        try:
            if not target.startswith(TARGET_PREFIX):
                raise BadRequest("UnknownOperationException", f"unknown target {target!r}")
            data = self.server.dynamo.handle(
                target[len(TARGET_PREFIX) :], json.loads(body or b"{}")
            )
        except BadRequest as exc:
            status = 400
            data = json.dumps({"__type": ERROR_PREFIX + exc.kind, "message": str(exc)}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", uuid.uuid4().hex)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        """`GET /bench/stats`: what the server holds and the calls it answered."""
        table = self.server.dynamo.table
        stats = {
            "records": table.records,
            "run_id": table.run_id,
            "calls": self.server.dynamo.calls,
        }
        data = json.dumps(stats).encode()
        self.send_response(200 if self.path == "/bench/stats" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, dynamo: DynamoHandler) -> None:
        super().__init__(("127.0.0.1", 0), _Http)
        self.dynamo = dynamo


@contextlib.contextmanager
def serve(records: int, *, accounts: int = ACCOUNTS) -> Iterator[tuple[str, Table]]:
    """The server in a thread of this process (for tests): (endpoint, table)."""
    table = Table(TABLE, build_items(records, accounts))
    table.warm()
    server = _Server(DynamoHandler(table))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", table
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def dynamodb_server(records: int) -> Iterator[dict[str, Any]]:
    """The server in a process of its own; yields its ready line (endpoint, records, run id)
    and stops it by its pid."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.dynamodb_server", "--records", str(records)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the bench DynamoDB server exited {process.wait()}")
        yield json.loads(line)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dynamodb_server")
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--accounts", type=int, default=ACCOUNTS)
    args = parser.parse_args(argv)
    with serve(args.records, accounts=args.accounts) as (endpoint, table):
        ready = {"endpoint": endpoint, "records": table.records, "run_id": table.run_id}
        print(json.dumps(ready), flush=True)
        threading.Event().wait()  # until terminated
    return 0


if __name__ == "__main__":
    sys.exit(main())
