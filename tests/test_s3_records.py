"""The S3 export read back for `query --engine duckdb`: key parsing, a run's objects downloaded
by script (foreign keys, empty objects and a duplicate Worker's ignored, several list pages);
moto S3."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest

from lambda_src import names
from lambda_src.s3_export import ATTEMPT_METADATA, S3Export
from lambdafan.errors import LambdafanError
from lambdafan.query import s3_records
from lambdafan.query.s3_records import ExportObject

FLEET = "acme"
RUN = "20261127T101500Z-3f9a1c"
OLDER = "20261126T101500Z-aaaaaa"
BUCKET = names.export_bucket_name(FLEET, "123456789012", "us-east-1")
A, B, C = "111111111111", "222222222222", "333333333333"


def records_object(run_id: str, script: str, account: str, region: str) -> bytes:
    """A pair's object as a Worker writes it: gzipped JSON Lines with the origin columns."""
    lines = [
        {"n": n, "run_id": run_id, "account_id": account, "region": region, "script": script}
        for n in range(2)
    ]
    return gzip.compress("".join(json.dumps(line) + "\n" for line in lines).encode())


def put(s3: Any, key: str, body: bytes = b"x") -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


def put_pair(s3: Any, run_id: str, script: str, account: str, region: str) -> str:
    key = names.export_key(FLEET, run_id, script, account, region)
    put(s3, key, records_object(run_id, script, account, region))
    return key


@pytest.fixture
def s3(aws: Any) -> Any:
    client = aws.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def test_a_key_in_the_layout_parses_and_others_do_not() -> None:
    key = names.export_key(FLEET, RUN, "ec2_instances", A, "eu-west-1")
    assert s3_records.parse_export_key(FLEET, key) == ExportObject(
        key, RUN, "ec2_instances", A, "eu-west-1", "part-0.json.gz"
    )
    # A later writer's second part is still the pair's.
    assert s3_records.parse_export_key(FLEET, key.replace("part-0", "part-12")) is not None
    prefix = names.export_prefix(FLEET, RUN)
    foreign = [
        key.replace(f"fleet={FLEET}", "fleet=other"),  # another fleet's
        f"{prefix}script=ec2_instances/notes.txt",
        f"{prefix}script=ec2_instances/account={A}/region=eu-west-1/part-0.json",
        f"{prefix}script=ec2_instances/account={A}/region=eu-west-1/extra/part-0.json.gz",
        f"{prefix}script=ec2 instances/account={A}/region=eu-west-1/part-0.json.gz",
        f"{prefix}script=ec2_instances/account=1111/region=eu-west-1/part-0.json.gz",
        f"{prefix}script=ec2_instances/region=eu-west-1/account={A}/part-0.json.gz",
        f"{prefix}script=ec2_instances/account={A}/region=EU/part-0.json.gz",
        f"{names.export_prefix(FLEET)}run=/script=x/account={A}/region=eu-west-1/part-0.json.gz",
        "athena-results/q-1.csv",
    ]
    for other in foreign:
        assert s3_records.parse_export_key(FLEET, other) is None, other


def test_a_run_is_downloaded_by_script_and_foreign_keys_are_ignored(
    s3: Any, tmp_path: Path
) -> None:
    ours = [
        put_pair(s3, RUN, "ec2_instances", A, "us-east-1"),
        put_pair(s3, RUN, "ec2_instances", A, "eu-west-1"),
        put_pair(s3, RUN, "ec2_instances", B, "us-east-1"),
        put_pair(s3, RUN, "iam_users", A, "us-east-1"),
    ]
    put_pair(s3, OLDER, "ec2_instances", A, "us-east-1")  # another run
    put(s3, f"{names.export_prefix(FLEET, RUN)}script=iam_users/README.md")
    put(s3, f"{names.export_prefix(FLEET, RUN)}_SUCCESS")
    put(s3, names.export_key("other", RUN, "ec2_instances", A, "us-east-1"))
    put(s3, "athena-results/q-1.csv")
    progress: list[int] = []

    files = s3_records.download_run(
        s3, BUCKET, FLEET, RUN, tmp_path / "dl", threads=3, on_progress=progress.append
    )

    assert sorted(files) == ["ec2_instances", "iam_users"]
    assert len(files["ec2_instances"]) == 3
    assert len(files["iam_users"]) == 1
    assert progress == [1, 2, 3, 4]
    prefix = names.export_prefix(FLEET)
    expected = sorted(tmp_path / "dl" / key[len(prefix) :] for key in ours)
    assert sorted(p for paths in files.values() for p in paths) == expected
    # Nothing else was written, and each file is its object, byte for byte.
    assert sorted(p for p in (tmp_path / "dl").rglob("*") if p.is_file()) == expected
    for key in ours:
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert (tmp_path / "dl" / key[len(prefix) :]).read_bytes() == body
    (first,) = files["iam_users"]
    lines = gzip.decompress(first.read_bytes()).decode().splitlines()
    assert [json.loads(line)["script"] for line in lines] == ["iam_users", "iam_users"]


def count_lists(s3: Any) -> list[dict[str, Any]]:
    """The ListObjectsV2 requests `s3` makes from now on, their parameters."""
    calls: list[dict[str, Any]] = []
    s3.meta.events.register(
        "provide-client-params.s3.ListObjectsV2", lambda params, **_: calls.append(dict(params))
    )
    return calls


def test_every_list_page_is_read(s3: Any, tmp_path: Path) -> None:
    regions = ["us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1"]
    for region in regions:
        put_pair(s3, RUN, "ec2_instances", A, region)
        put(s3, f"{names.export_prefix(FLEET, RUN)}script=ec2_instances/x-{region}.txt")
    calls = count_lists(s3)

    files = s3_records.download_run(s3, BUCKET, FLEET, RUN, tmp_path, page_size=2)

    assert len(files["ec2_instances"]) == len(regions)
    assert len(calls) == 5  # 10 keys, 2 a page
    assert {call["MaxKeys"] for call in calls} == {2}


def test_a_run_without_objects_has_no_files(s3: Any, tmp_path: Path) -> None:
    put_pair(s3, OLDER, "ec2_instances", A, "us-east-1")
    assert s3_records.download_run(s3, BUCKET, FLEET, RUN, tmp_path) == {}


def test_a_missing_bucket_says_what_creates_it(aws: Any, tmp_path: Path) -> None:
    s3 = aws.client("s3")
    with pytest.raises(LambdafanError, match=f"no export bucket {BUCKET}: .*lambdafan deploy"):
        s3_records.download_run(s3, BUCKET, FLEET, RUN, tmp_path)


def count_gets(s3: Any) -> list[str]:
    """The keys of the GetObject requests `s3` makes from now on."""
    keys: list[str] = []
    s3.meta.events.register(
        "provide-client-params.s3.GetObject", lambda params, **_: keys.append(params["Key"])
    )
    return keys


def test_a_pair_that_found_nothing_has_no_file(s3: Any, tmp_path: Path) -> None:
    """The Worker PUTs an empty object for a pair without records: no file, so the script
    counts as absent (and gets an earlier run's fields), not a view of one `json` column."""
    kept = put_pair(s3, RUN, "ec2_instances", A, "us-east-1")
    export = S3Export(s3, BUCKET, FLEET, RUN, A)
    export.finish("iam_users", "us-east-1")  # no records added: the Worker's empty object
    export.finish("ec2_instances", "eu-west-1")
    assert export.close() == {}
    empty_key = names.export_key(FLEET, RUN, "iam_users", A, "us-east-1")
    size = s3.head_object(Bucket=BUCKET, Key=empty_key)["ContentLength"]
    assert size <= s3_records.EMPTY_OBJECT_MAX
    # An empty gzip with a file name in its header is bigger: it is read, then dropped.
    body = gzip.compress(b"")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="part-0.json", mode="wb", fileobj=buffer, mtime=0):
        pass
    assert len(buffer.getvalue()) > s3_records.EMPTY_OBJECT_MAX >= len(body)
    put(s3, names.export_key(FLEET, RUN, "buckets", B, "us-east-1"), buffer.getvalue())
    gets = count_gets(s3)

    files = s3_records.download_run(s3, BUCKET, FLEET, RUN, tmp_path)

    assert list(files) == ["ec2_instances"]
    (path,) = files["ec2_instances"]
    assert path == tmp_path / kept[len(names.export_prefix(FLEET)) :]
    # The Worker's empty objects are skipped by their size, unread.
    assert sorted(gets) == sorted([kept, names.export_key(FLEET, RUN, "buckets", B, "us-east-1")])
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == [path]


def put_attempt(s3: Any, account: str, attempt: str | None, region: str = "us-east-1") -> str:
    key = names.export_key(FLEET, RUN, "ec2_instances", account, region)
    metadata = {} if attempt is None else {ATTEMPT_METADATA: attempt}
    body = records_object(RUN, "ec2_instances", account, region)
    s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata=metadata)
    return key


def test_only_the_counted_attempts_objects_are_kept(s3: Any, tmp_path: Path) -> None:
    """Two duplicate Workers: the object of the attempt the done item names counts, the other's
    not; an object without the metadata (an older Worker's) counts."""
    counted = put_attempt(s3, A, "attempt-won")
    put_attempt(s3, B, "attempt-lost")
    older = put_attempt(s3, A, None, region="eu-west-1")
    # A done item naming no attempt (a Worker before attempts) cannot rule an object out.
    unnamed = put_attempt(s3, C, "attempt-1")
    done = s3_records.Counted({A: "attempt-won", B: "attempt-won-b", C: ""}, running=False)

    files = s3_records.download_run(s3, BUCKET, FLEET, RUN, tmp_path, counted=done)

    prefix = names.export_prefix(FLEET)
    assert files == {
        "ec2_instances": sorted(tmp_path / key[len(prefix) :] for key in (counted, older, unnamed))
    }
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == files["ec2_instances"]


def test_an_account_not_done_counts_only_while_the_run_goes_on(s3: Any, tmp_path: Path) -> None:
    put_attempt(s3, A, "a1")
    unfinished = put_attempt(s3, B, "b1")
    gets = count_gets(s3)

    finished = s3_records.Counted({A: "a1"}, running=False)
    files = s3_records.download_run(s3, BUCKET, FLEET, RUN, tmp_path / "f", counted=finished)
    assert [p.parts[-3] for p in files["ec2_instances"]] == [f"account={A}"]
    assert unfinished not in gets  # known from its key: not read

    going = s3_records.Counted({A: "a1"}, running=True)
    files = s3_records.download_run(s3, BUCKET, FLEET, RUN, tmp_path / "g", counted=going)
    assert sorted(p.parts[-3] for p in files["ec2_instances"]) == [f"account={A}", f"account={B}"]
