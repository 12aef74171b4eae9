"""The S3 export: each (script, region) pair's records as one gzipped JSON Lines object, PUT with
the Worker's own credentials and naming its attempt; a retried pair overwrites its object, a
Worker whose account is done already writes nothing; a failed or unfinished PUT is an error of
its pair and the table keeps every record."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_src import names, pairs, runs, s3_export, table
from lambda_src.settings import FleetSettings, ScriptRef
from lambda_src.worker import WorkerDeps, run_worker
from lambdafan.aws import Aws
from lambdafan.local import LocalExecutor
from lambdafan.memory_store import MemoryStore
from tests.conftest import REGION, load_scripts, make_settings

A, B = "111111111111", "022222222222"
FLEET_ACCOUNT = "123456789012"  # in-process moto's own account: the Worker's credentials
BUCKET = names.export_bucket_name("test", FLEET_ACCOUNT, REGION)


def objects(aws: Any, bucket: str = BUCKET) -> dict[str, list[dict[str, Any]]]:
    """Every object of the bucket, ungzipped and parsed line by line."""
    s3 = aws.client("s3")
    found = {}
    for entry in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
        text = gzip.decompress(body).decode("utf-8")
        found[entry["Key"]] = [json.loads(line) for line in text.splitlines()]
    return found


def export_settings(accounts: tuple[str, ...] = (A, B), **changes: Any) -> FleetSettings:
    return make_settings(accounts=accounts, export="s3", **changes)


def test_each_pair_is_one_gzipped_json_lines_object_at_its_key(aws: Any) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    settings = export_settings()
    store = MemoryStore()
    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings), sandbox=False).run()

    assert result.summary.ok
    found = objects(aws)
    expected = {
        names.export_key("test", result.run_id, "whoami", account, region): (account, region)
        for account in (A, B)
        for region in ("us-east-1", "eu-west-1")
    }
    assert sorted(found) == sorted(expected)
    for key, (account, region) in expected.items():
        [line] = found[key]
        assert line == {
            "run_id": result.run_id,
            "account_id": account,
            "account_name": f"acct-{account[:3]}",
            "region": region,
            "script": "whoami",
            "caller_account": account,  # collected with the member role ...
            "region_seen": region,
            "for": account,
        }
    # ... and written with the Worker's: the bucket is in the fleet's account, not a member's.
    assert {line["run_id"] for lines in found.values() for line in lines} == {result.run_id}
    # The table got the same records.
    assert len(list(table.run_records(store, result.run_id))) == 4


def _counter_script(tmp_path: Path, regions: tuple[str, ...] = ("us-east-1",)) -> FleetSettings:
    """A script yielding as many records as `count.txt` says; each call noted in `calls.txt`."""
    (tmp_path / "count.txt").write_text("3")
    script = tmp_path / "counted.py"
    script.write_text(
        "from pathlib import Path\n"
        "def collect(session, region, account):\n"
        f"    with open({str(tmp_path / 'calls.txt')!r}, 'a') as calls:\n"
        "        calls.write(region + '\\n')\n"
        f"    n = int(Path({str(tmp_path / 'count.txt')!r}).read_text())\n"
        "    for i in range(n):\n"
        "        yield {'i': i, 'nested': {'n': n, 'list': [i, 1.5]}}\n"
    )
    return dataclasses.replace(
        export_settings((A,), regions=regions), scripts=(ScriptRef("counted", str(script)),)
    )


def _worker(
    settings: FleetSettings,
    store: Any,
    session: Any,
    attempt: str = "a1",
    regions: tuple[str, ...] = ("us-east-1",),
    **deps: Any,
) -> Any:
    return run_worker(
        {"run_id": "r1", "account": {"id": A, "name": "a"}, "regions": list(regions)},
        settings,
        WorkerDeps(store=store, base_session=session, invoke=lambda k, p: None,
                   scripts=load_scripts(settings), new_attempt=lambda: attempt, **deps),
    )  # fmt: skip


def _start(store: Any) -> None:
    runs.start_run(store, "r1", accounts=[A], scripts=["counted"], trigger="test",
                   now=runs.utcnow(), ttl_days=1, worker_timeout_s=900)  # fmt: skip


class Killed(BaseException):
    """Lambda stopping the Worker mid-way: nothing catches it."""


class DiesBeforeDone(MemoryStore):
    """A table on which the Worker dies after its records, before its done item, while `dying`."""

    dying = True

    def put_new(self, item: table.Item) -> bool:
        if self.dying and item["sk"] == names.account_sk(A):
            raise Killed()
        return super().put_new(item)


def attempt_of(aws: Any, key: str, bucket: str = BUCKET) -> str | None:
    """The attempt an object's metadata names (what a reader compares with the done item)."""
    metadata = aws.client("s3").head_object(Bucket=bucket, Key=key)["Metadata"]
    return metadata.get(s3_export.ATTEMPT_METADATA)


def test_a_retried_pair_overwrites_its_object(aws: Any, tmp_path: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    settings = _counter_script(tmp_path)
    store = DiesBeforeDone()
    _start(store)
    key = names.export_key("test", "r1", "counted", A, "us-east-1")

    with pytest.raises(Killed):  # no done item: Lambda retries the event, a new attempt
        _worker(settings, store, aws, attempt="a1")
    assert [line["i"] for line in objects(aws)[key]] == [0, 1, 2]
    assert objects(aws)[key][1]["nested"] == {"n": 3, "list": [1, 1.5]}
    assert attempt_of(aws, key) == "a1"

    (tmp_path / "count.txt").write_text("1")
    with pytest.raises(Killed):
        _worker(settings, store, aws, attempt="a2")
    assert list(objects(aws)) == [key]
    assert [line["i"] for line in objects(aws)[key]] == [0]
    assert attempt_of(aws, key) == "a2"

    (tmp_path / "count.txt").write_text("0")
    store.dying = False
    last = _worker(settings, store, aws, attempt="a3")  # finds nothing, and counts
    assert not last.duplicate and not last.errors
    assert objects(aws)[key] == []  # nothing of the earlier attempts is left
    [done] = table.account_items(store, "r1")
    assert attempt_of(aws, key) == done["attempt"] == "a3"


def test_a_worker_whose_account_is_done_leaves_s3_and_its_scripts_alone(
    aws: Any, tmp_path: Path
) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    settings = _counter_script(tmp_path)
    store = MemoryStore()
    _start(store)
    key = names.export_key("test", "r1", "counted", A, "us-east-1")
    first = _worker(settings, store, aws, attempt="a1")
    assert first.records == 3 and first.completed_run
    before = aws.client("s3").get_object(Bucket=BUCKET, Key=key)
    body = before["Body"].read()
    (tmp_path / "count.txt").write_text("1")

    late = _worker(settings, store, aws, attempt="a2")  # delivered again after it counted

    assert late.duplicate
    assert (late.records, late.errors, late.failed) == (0, [], False)
    assert (tmp_path / "calls.txt").read_text() == "us-east-1\n"  # ran once, the first time
    after = aws.client("s3").get_object(Bucket=BUCKET, Key=key)
    assert after["Body"].read() == body and after["ETag"] == before["ETag"]
    assert after["Metadata"] == {s3_export.ATTEMPT_METADATA: "a1"}
    assert [line["i"] for line in objects(aws)[key]] == [0, 1, 2]


def test_a_concurrent_duplicates_objects_name_its_attempt_not_the_counted_one(
    aws: Any, tmp_path: Path
) -> None:
    """Two Workers of one account at once: both PUT, one counts. A reader keeps an object only
    when its attempt is the done item's."""
    aws.client("s3").create_bucket(Bucket=BUCKET)
    settings = _counter_script(tmp_path)

    class StartedBeforeTheOtherFinished(MemoryStore):
        def get(self, pk: str, sk: str) -> table.Item | None:
            return None if sk == names.account_sk(A) else super().get(pk, sk)

    store = StartedBeforeTheOtherFinished()
    _start(store)
    key = names.export_key("test", "r1", "counted", A, "us-east-1")
    assert not _worker(settings, store, aws, attempt="a1").duplicate
    (tmp_path / "count.txt").write_text("1")

    other = _worker(settings, store, aws, attempt="a2")

    assert other.duplicate
    [done] = table.account_items(store, "r1")
    assert done["attempt"] == "a1" and attempt_of(aws, key) == "a2"  # the reader skips it


def test_a_failed_put_is_an_error_of_its_pair_and_the_table_keeps_the_records(
    aws: Any,
) -> None:
    settings = export_settings()  # no bucket: every PUT fails (NoSuchBucket)
    store = MemoryStore()
    result = LocalExecutor(settings, Aws(aws), store, load_scripts(settings), sandbox=False).run()

    assert len(list(table.run_records(store, result.run_id))) == 4
    assert result.summary.records == 4
    errors = sorted((e.account_id, e.region, e.error_type) for e in result.summary.errors)
    assert errors == sorted(
        (a, r, "ExportError") for a in (A, B) for r in ("us-east-1", "eu-west-1")
    )
    assert all(f"s3://{BUCKET}" in e.message and "NoSuchBucket" in e.message
               for e in result.summary.errors)  # fmt: skip
    assert result.summary.accounts_failed == 0


def test_the_bucket_deploy_names_in_the_environment_is_used(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.client("s3").create_bucket(Bucket="named-by-deploy")
    monkeypatch.setenv(s3_export.BUCKET_ENV, "named-by-deploy")
    settings = export_settings()
    LocalExecutor(settings, Aws(aws), MemoryStore(), load_scripts(settings), sandbox=False).run()
    assert len(objects(aws, "named-by-deploy")) == 4


def test_without_export_nothing_goes_to_s3(aws: Any) -> None:
    settings = make_settings(accounts=(A,))
    result = LocalExecutor(settings, Aws(aws), MemoryStore(), load_scripts(settings),
                           sandbox=False).run()  # fmt: skip
    assert result.summary.ok and not result.summary.errors
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_export_line_is_the_results_row_with_the_real_origin_columns() -> None:
    item = table.record_item(
        "r1", A, "prod", "s", "global",
        {"when": __import__("datetime").date(2026, 1, 2), "n": 1.25, "b": b"\x00", "region": "x",
         "run_id": "r0"},
        collected_at="t", expires_at=1, seen={}, attempt="a1",
    )  # fmt: skip
    assert s3_export.export_line(item) == {
        "run_id": "r1",
        "account_id": A,
        "account_name": "prod",
        "region": "global",  # the origin is the real one (the query views' and Athena's)
        "script": "s",
        "when": "2026-01-02",
        "n": 1.25,
        "b": "AA==",
        "record_region": "x",  # the record's own, kept beside it
        "record_run_id": "r0",
    }
    other = table.record_item("r1", A, "prod", "s", "global", {"run_id": "r0", "x": 1},
                              collected_at="t", expires_at=1, seen={}, attempt="a1")  # fmt: skip
    line = s3_export.export_line(other)
    assert list(line) == [*s3_export.ORIGIN, "record_run_id", "x"]  # origin first
    assert line["run_id"] == "r1" and line["record_run_id"] == "r0"


def test_the_same_records_make_the_same_bytes(aws: Any) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="bkt")
    item = table.record_item("r1", A, "a", "s", "us-east-1", {"i": 1},
                             collected_at="t", expires_at=1, seen={}, attempt="a1")  # fmt: skip
    bodies = []
    for _ in range(2):
        export = s3_export.S3Export(s3, "bkt", "f", "r1", A)
        export.add(item)
        export.finish("s", "us-east-1")
        assert export.close() == {}
        key = names.export_key("f", "r1", "s", A, "us-east-1")
        obj = s3.get_object(Bucket="bkt", Key=key)
        assert obj["ContentType"] == "application/gzip"
        bodies.append(obj["Body"].read())
    assert bodies[0] == bodies[1]


def test_a_large_pair_spills_to_disk_not_memory(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_export, "SPOOL_BYTES", 1024)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="bkt")
    export = s3_export.S3Export(s3, "bkt", "f", "r1", A)
    seen: dict[str, int] = {}
    for i in range(2000):
        record = {"i": i, "pad": hashlib.sha256(str(i).encode()).hexdigest()}  # incompressible
        item = table.record_item(
            "r1", A, "a", "s", "us-east-1", record,
            collected_at="t", expires_at=1, seen=seen, attempt="a1",
        )  # fmt: skip
        export.add(item)
    pair = export._pairs["s", "us-east-1"]
    assert pair.file._rolled  # type: ignore[attr-defined]  # moved to a real file
    export.finish("s", "us-east-1")
    assert export.close() == {}
    assert len(objects(aws, "bkt")[names.export_key("f", "r1", "s", A, "us-east-1")]) == 2000


def test_an_export_whose_bucket_cannot_be_found_fails_each_pair_with_why(aws: Any) -> None:
    class NoSts:
        def client(self, service: str, **kwargs: Any) -> Any:
            if service == "sts":
                raise RuntimeError("no STS for you")
            return aws.client(service, **kwargs)

    with pytest.raises(RuntimeError):
        s3_export.worker_export("f", REGION, "r1", A, "a1", NoSts(), environ={})
    failed = s3_export.failed_export("f", "r1", A, RuntimeError("no bucket"))
    failed.add({"script": "s", "region": "r"})
    failed.finish("s", "r")
    assert {k: str(v) for k, v in failed.close().items()} == {("s", "r"): "no bucket"}


def test_close_waits_for_every_put_and_drops_unfinished_pairs(aws: Any) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="bkt")
    export = s3_export.S3Export(s3, "bkt", "f", "r1", A)
    item = table.record_item("r1", A, "a", "s", "us-east-1", {"i": 1},
                             collected_at="t", expires_at=1, seen={}, attempt="a1")  # fmt: skip
    export.add(item)
    export.add({**item, "region": "eu-west-1"})  # a pair the Worker never finished
    for region in ("us-east-1", "ap-south-1"):  # ap-south-1 found nothing: an empty object
        export.finish("s", region)
    assert export.close() == {}
    found = objects(aws, "bkt")
    assert {k.split("/")[-2]: len(v) for k, v in found.items()} == {
        "region=us-east-1": 1,
        "region=ap-south-1": 0,
    }


class SlowPuts:
    """The Worker's own session, whose S3 PUTs hang (until `release`, at the test's end)."""

    def __init__(self, session: Any, release: threading.Event) -> None:
        self._session, self._release = session, release

    def client(self, service: str, **kwargs: Any) -> Any:
        client = self._session.client(service, **kwargs)
        if service == "s3":
            put = client.put_object

            def slow_put(**request: Any) -> Any:
                self._release.wait(60)
                return put(**request)

            client.put_object = slow_put
        return client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def test_slow_puts_end_at_the_deadline_and_the_worker_records_its_outcome_in_time(
    aws: Any, tmp_path: Path
) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    settings = _counter_script(tmp_path)
    store = MemoryStore()
    _start(store)
    release = threading.Event()
    began = time.monotonic()
    try:
        # 4 s left: the pair ends at once; its PUT is given up 3.5 s in (the writer's cutoff),
        # leaving half a second to record the outcome.
        result = _worker(settings, store, SlowPuts(aws, release), remaining_ms=lambda: 4_000)
        took = time.monotonic() - began
    finally:
        release.set()
    assert took < 4.0
    [done] = table.account_items(store, "r1")  # the done item is written in time
    assert (done["attempt"], done["records"], done["errors"]) == ("a1", 3, 1)
    [error] = result.errors
    assert (error["region"], error["error_type"]) == ("us-east-1", s3_export.EXPORT_ERROR)
    assert "deadline" in error["message"]
    assert len(list(table.run_records(store, "r1"))) == 3  # the table has every record


def test_close_gives_up_at_its_deadline_and_cancels_the_puts_not_started(aws: Any) -> None:
    release = threading.Event()
    s3 = SlowPuts(aws, release).client("s3")
    s3.create_bucket(Bucket="bkt")
    export = s3_export.S3Export(s3, "bkt", "f", "r1", A, "a1")
    created: list[Any] = []
    for n in range(s3_export.PUT_THREADS + 2):  # two wait for a thread
        export.finish("s", f"region-{n}")
        created.append(export._puts["s", f"region-{n}"][1])
    try:
        began = time.monotonic()
        failed = export.close(give_up_at=time.monotonic() + 0.3)
        assert time.monotonic() - began < 1.0
    finally:
        release.set()
    assert len(failed) == s3_export.PUT_THREADS + 2
    assert all(isinstance(e, TimeoutError) for e in failed.values())
    assert all(p.file.closed for p in created[s3_export.PUT_THREADS :])  # cancelled: released
    assert export.close() == {}  # once


@pytest.fixture
def spools(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every pair object the export makes."""
    made: list[Any] = []

    class Noted(s3_export._PairObject):
        def __init__(self) -> None:
            super().__init__()
            made.append(self)

    monkeypatch.setattr(s3_export, "_PairObject", Noted)
    yield made


def test_the_export_is_closed_when_the_worker_fails(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spools: list[Any]
) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    regions = ("us-east-1", "eu-west-1")
    settings = _counter_script(tmp_path, regions)
    store = MemoryStore()
    _start(store)
    exports: list[s3_export.S3Export] = []
    made = s3_export.worker_export

    def noted(*args: Any, **kwargs: Any) -> s3_export.S3Export:
        exports.append(made(*args, **kwargs))
        return exports[-1]

    monkeypatch.setattr(s3_export, "worker_export", noted)
    run_pairs = pairs.AccountRun.run_pairs

    def fails_after_one(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        running = run_pairs(self, *args, **kwargs)
        yield next(running)
        waited = time.monotonic() + 10
        while len(spools) < 2 and time.monotonic() < waited:  # both pairs have records in it
            time.sleep(0.01)
        running.close()
        raise RuntimeError("the Worker broke")

    monkeypatch.setattr(pairs.AccountRun, "run_pairs", fails_after_one)

    with pytest.raises(RuntimeError, match="the Worker broke"):
        _worker(settings, store, aws, regions=regions)

    [export] = exports
    assert export.closed
    with pytest.raises(RuntimeError, match="shutdown"):  # its threads are released
        export._pool.submit(print)
    export._pool.shutdown(wait=True)  # the PUT under way (not waited for) releases its own
    assert len(spools) == 2 and all(p.file.closed for p in spools)  # so are its spool files


def test_a_pair_past_a_megabyte_spills_to_disk(aws: Any) -> None:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="bkt")
    export = s3_export.S3Export(s3, "bkt", "f", "r1", A, "a1")
    seen: dict[str, int] = {}
    for i in range(1100):  # ~1.1 MB once compressed: random bytes do not compress
        record = {"i": i, "pad": base64.b64encode(os.urandom(1000)).decode()}
        item = table.record_item(
            "r1", A, "a", "s", "us-east-1", record,
            collected_at="t", expires_at=1, seen=seen, attempt="a1",
        )  # fmt: skip
        export.add(item)
    assert export._pairs["s", "us-east-1"].file._rolled  # type: ignore[attr-defined]
    export.finish("s", "us-east-1")
    assert export.close() == {}
    assert len(objects(aws, "bkt")[names.export_key("f", "r1", "s", A, "us-east-1")]) == 1100


def test_a_field_named_like_the_partition_key_is_exported_as_record_run() -> None:
    # Athena's tables are partitioned by `run` (the run=<id> folder): a field of that name
    # would be hidden by it, unqueryable.
    item = table.record_item("r1", A, "prod", "s", "global", {"run": 5, "x": 1},
                             collected_at="t", expires_at=1, seen={}, attempt="a1")  # fmt: skip
    line = s3_export.export_line(item)
    assert line["record_run"] == 5 and "run" not in line and line["run_id"] == "r1"
