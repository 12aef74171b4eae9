"""The S3 export: each (script, region) pair's records as one gzipped JSON Lines object, PUT with
the Worker's own credentials; a retried pair overwrites its object; a failed PUT is an error of
its pair and the table keeps every record."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lambda_src import names, runs, s3_export, table
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


def _counter_script(tmp_path: Path) -> FleetSettings:
    """A script yielding as many records as `count.txt` says, one region."""
    (tmp_path / "count.txt").write_text("3")
    script = tmp_path / "counted.py"
    script.write_text(
        "from pathlib import Path\n"
        "def collect(session, region, account):\n"
        f"    n = int(Path({str(tmp_path / 'count.txt')!r}).read_text())\n"
        "    for i in range(n):\n"
        "        yield {'i': i, 'nested': {'n': n, 'list': [i, 1.5]}}\n"
    )
    return dataclasses.replace(
        export_settings((A,), regions=("us-east-1",)), scripts=(ScriptRef("counted", str(script)),)
    )


def _worker(settings: FleetSettings, store: Any, aws: Any) -> Any:
    return run_worker(
        {"run_id": "r1", "account": {"id": A, "name": "a"}, "regions": ["us-east-1"]},
        settings,
        WorkerDeps(
            store=store, base_session=aws, invoke=lambda k, p: None, scripts=load_scripts(settings)
        ),
    )


def test_a_retried_pair_overwrites_its_object(aws: Any, tmp_path: Path) -> None:
    aws.client("s3").create_bucket(Bucket=BUCKET)
    settings = _counter_script(tmp_path)
    store = MemoryStore()
    runs.start_run(store, "r1", accounts=[A], scripts=["counted"], trigger="test",
                   now=runs.utcnow(), ttl_days=1, worker_timeout_s=900)  # fmt: skip
    key = names.export_key("test", "r1", "counted", A, "us-east-1")

    first = _worker(settings, store, aws)
    assert first.records == 3 and not first.errors
    assert [line["i"] for line in objects(aws)[key]] == [0, 1, 2]
    assert objects(aws)[key][1]["nested"] == {"n": 3, "list": [1, 1.5]}

    (tmp_path / "count.txt").write_text("1")
    _worker(settings, store, aws)  # Lambda's retry of the same event
    assert list(objects(aws)) == [key]
    assert [line["i"] for line in objects(aws)[key]] == [0]

    (tmp_path / "count.txt").write_text("0")
    _worker(settings, store, aws)  # a retry that finds nothing leaves nothing of the others
    assert objects(aws)[key] == []


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


def test_export_line_is_the_results_row_plus_the_run_id() -> None:
    item = table.record_item(
        "r1", A, "prod", "s", "global",
        {"when": __import__("datetime").date(2026, 1, 2), "n": 1.25, "b": b"\x00", "region": "x"},
        collected_at="t", expires_at=1, seen={}, attempt="a1",
    )  # fmt: skip
    assert s3_export.export_line(item) == {
        "run_id": "r1",
        "account_id": A,
        "account_name": "prod",
        "region": "x",  # the record's own field wins, as in `results`
        "script": "s",
        "when": "2026-01-02",
        "n": 1.25,
        "b": "AA==",
    }


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
        s3_export.worker_export("f", REGION, "r1", A, NoSts(), environ={})
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
