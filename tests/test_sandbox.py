"""The script sandbox: a script reaches nothing but its own account, and whatever it does (patch
modules, exit, crash, hang, exhaust memory, fail to import) costs only its own pairs.

These run the real sandbox processes against moto's server: in-process moto is out of their reach.
"""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambda_src import script_wire, table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.sandbox import ProcessSandbox, describe_exit, memory_limit_mb, sandbox_env
from lambda_src.script_runner import Job
from lambda_src.scripts import Account, describe_script
from lambda_src.settings import SCRIPT_PACKAGES_DIR, AccountRef, FleetSettings, ScriptRef
from lambda_src.worker import WorkerDeps, WorkerResult, run_worker
from lambdafan.deploy.bundle import build_bundle
from lambdafan.deploy.requirements import script_packages
from tests.conftest import assumed, create_table
from tests.wheel_support import DEMO_PACKAGE, write_wheel

HERE = Path(__file__).parent / "sandbox_scripts"
WORKER_KEY = "AKIAWORKERKEY0000000"  # the Worker's own access key: no script may see it
A, B = "111111111111", "222222222222"
REGIONS = ("us-east-1", "eu-west-1")


def settings_for(*scripts: str) -> FleetSettings:
    return FleetSettings(
        fleet="sbx",
        home_region="us-east-1",
        scripts=tuple(ScriptRef(name, str(HERE / f"{name}.py")) for name in scripts),
        accounts=(AccountRef(A, "a"), AccountRef(B, "b")),
        regions=REGIONS,
        member_role="OrganizationAccountAccessRole",
    )


@pytest.fixture(scope="module")
def module_sandbox(moto_server: str) -> Iterator[ProcessSandbox]:
    """One sandbox for the module's tests (a zygote starts in ~0.4 s), made from the Worker's
    environment as on Lambda: its own keys and the fleet's settings in it."""
    environ = {
        **os.environ,
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": WORKER_KEY,
        "AWS_SECRET_ACCESS_KEY": "worker-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "LAMBDAFAN_SETTINGS_FILE": "/var/task/fleet.json",
    }
    sandbox = ProcessSandbox(environ=environ)
    yield sandbox
    sandbox.close()


@pytest.fixture
def worker_aws(
    server: str, module_sandbox: ProcessSandbox, monkeypatch: pytest.MonkeyPatch
) -> ProcessSandbox:
    """The Worker's own keys in os.environ too, and the module's sandbox."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", WORKER_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("LAMBDAFAN_SETTINGS_FILE", "/var/task/fleet.json")
    return module_sandbox


def run_account(
    settings: FleetSettings,
    sandbox: ProcessSandbox,
    account: str = A,
    **deps: Any,
) -> tuple[WorkerResult, DynamoStore]:
    session = boto3.Session()
    try:
        store = create_table(session, settings)
    except session.client("dynamodb").exceptions.ResourceInUseException:
        store = DynamoStore(session.client("dynamodb"), settings.table_name)
    specs = [describe_script(Path(r.path), r.name) for r in settings.scripts]
    result = run_worker(
        {"run_id": "r1", "account": {"id": account, "name": "acct"}, "regions": list(REGIONS)},
        settings,
        WorkerDeps(
            store=store,
            base_session=session,
            invoke=lambda kind, payload: None,
            scripts=specs,
            sandbox=sandbox,
            **deps,
        ),
    )
    return result, store


def records(store: DynamoStore, account: str) -> list[dict[str, Any]]:
    return [
        {"script": i["script"], "region": i["region"], **table.plain(i["data"])}
        for i in table.account_records(store, "r1", account)
    ]


def errors_of(result: WorkerResult) -> dict[tuple[str, str], tuple[str, str]]:
    return {(e["script"], e["region"]): (e["error_type"], e["message"]) for e in result.errors}


def test_a_forger_finds_no_way_to_the_workers_credentials_or_the_table(
    worker_aws: ProcessSandbox,
) -> None:
    settings = settings_for("forger")
    result, store = run_account(settings, worker_aws)
    assert not result.errors, [e["message"] for e in result.errors]
    [found, _] = records(store, A)
    assert found["found"] == []
    assert found["key"] != WORKER_KEY
    # The member account has no such table: the put failed, and nothing was planted in ours.
    assert found["table_error"] == "ResourceNotFoundException"
    planted = store.client.get_item(
        TableName=settings.table_name, Key={"pk": {"S": "planted"}, "sk": {"S": "planted"}}
    )
    assert "Item" not in planted
    assert not result.errors


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_a_scripts_process_hides_its_credentials_from_other_scripts(
    worker_aws: ProcessSandbox,
) -> None:
    result, store = run_account(settings_for("dumpable"), worker_aws)
    assert not result.errors
    assert [r["dumpable"] for r in records(store, A)] == [0, 0]


def test_a_script_patching_modules_costs_only_its_own_pairs_and_never_the_next_invocation(
    worker_aws: ProcessSandbox,
) -> None:
    settings = settings_for("patcher", "good", "counter")
    for account in (A, B):
        result, store = run_account(settings, worker_aws, account=account)
        found = records(store, account)
        assert sorted((r["script"], r["region"]) for r in found) == sorted(
            (s, r) for s in ("good", "counter") for r in REGIONS
        )
        assert {r["account"] for r in found if r["script"] == "good"} == {account}
        # A fresh process per job: the module ran once there, whatever ran before it.
        assert {r["imports"] for r in found if r["script"] == "counter"} == {1}
        assert {k: v[0] for k, v in errors_of(result).items()} == {
            ("patcher", r): "RecordTooLarge" for r in REGIONS
        }
        assert not result.failed and result.records_by_script["good"] == 2


def test_exits_crashes_hangs_and_memory_hogs_fail_only_their_own_pairs(
    worker_aws: ProcessSandbox,
) -> None:
    scripts = (
        *("good", "many_threads", "exits", "base_exception", "segfault", "hog"),
        "missing_module",
    )
    began = time.monotonic()
    result, store = run_account(
        settings_for(*scripts),
        worker_aws,
        sandbox_memory_mb=memory_limit_mb(1024),
    )
    assert time.monotonic() - began < 30
    errors = errors_of(result)
    for region in REGIONS:
        assert ("good", region) not in errors and ("many_threads", region) not in errors
        assert errors[("exits", region)][0] == "ScriptProcessExited"
        assert "code 0" in errors[("exits", region)][1]
        assert errors[("base_exception", region)][0] == "Escape"
        assert errors[("segfault", region)][0] == "ScriptProcessCrashed"
        assert "SIGSEGV" in errors[("segfault", region)][1]
        assert errors[("hog", region)][0] == "ScriptOutOfMemory", errors[("hog", region)]
        assert "more than 864 MB, the sandbox's memory limit" in errors[("hog", region)][1]
        error_type, message = errors[("missing_module", region)]
        assert error_type == "ModuleNotFoundError"
        assert "lambdafan_no_such_package" in message and "add it to script_requirements" in message
    assert len(errors) == 5 * len(REGIONS)
    assert result.records_by_script == {
        "good": 2, "many_threads": 2, "exits": 0, "base_exception": 2, "segfault": 0, "hog": 0,
        "missing_module": 0,
    }  # fmt: skip
    assert not result.failed and result.completed_run is False
    stored = {r["script"] for r in records(store, A)}
    assert stored == {"good", "many_threads", "base_exception"}


def test_a_hanging_script_is_killed_at_the_pair_limit_keeping_what_it_found(
    worker_aws: ProcessSandbox,
) -> None:
    began = time.monotonic()
    result, store = run_account(settings_for("good", "hangs"), worker_aws, pair_timeout_s=1.5)
    assert time.monotonic() - began < 30
    errors = errors_of(result)
    assert {k: v[0] for k, v in errors.items()} == {("hangs", r): "Timeout" for r in REGIONS}
    assert all("the 1 records found so far were kept" in e[1] for e in errors.values())
    assert result.records_by_script == {"good": 2, "hangs": 2}
    assert len(records(store, A)) == 4


def test_a_vendored_package_is_importable_by_a_script(
    worker_aws: ProcessSandbox, tmp_path: Path
) -> None:
    packages = tmp_path / "script_packages"
    (packages / "lfvendored").mkdir(parents=True)
    (packages / "lfvendored" / "__init__.py").write_text("ANSWER = 42\n")
    result, store = run_account(
        settings_for("vendored"), worker_aws, script_packages=(str(packages),)
    )
    assert not result.errors
    assert [r["answer"] for r in records(store, A)] == [42, 42]


def test_a_requirement_vendored_into_the_workers_bundle_is_importable_in_the_sandbox(
    worker_aws: ProcessSandbox, tmp_path: Path
) -> None:
    wheel = write_wheel(tmp_path / "wheels")
    script = tmp_path / "uses_demo.py"
    script.write_text(
        f"import {DEMO_PACKAGE}\n\ndef collect(session, region, account):\n"
        f"    yield {{'value': {DEMO_PACKAGE}.VALUE}}\n"
    )
    settings = dataclasses.replace(settings_for(), scripts=(ScriptRef("uses_demo", str(script)),))
    bundle = build_bundle(settings, include_scripts=True, script_packages=script_packages([wheel]))
    unpacked = tmp_path / "task"
    zipfile.ZipFile(io.BytesIO(bundle.data)).extractall(unpacked)
    bundled = dataclasses.replace(
        settings, scripts=(ScriptRef("uses_demo", str(unpacked / "user_scripts/uses_demo.py")),)
    )
    packages = (str(unpacked / SCRIPT_PACKAGES_DIR),)
    result, store = run_account(bundled, worker_aws, script_packages=packages)
    assert not result.errors, [e["message"] for e in result.errors]
    assert [r["value"] for r in records(store, A)] == [42, 42]


def test_the_sandbox_environment_holds_no_credentials_or_settings() -> None:
    env = sandbox_env(
        {
            "PATH": "/usr/bin",
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_SESSION_TOKEN": "t",
            "AWS_PROFILE": "prod",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://169.254.170.2/creds",
            "AWS_LAMBDA_FUNCTION_NAME": "fleet-worker",
            "LAMBDAFAN_SETTINGS_FILE": "/var/task/fleet.json",
            "LAMBDAFAN_FAULTS": "throttle",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "LC_ALL": "C.UTF-8",
        }
    )
    assert env["PATH"] == "/usr/bin" and env["LC_ALL"] == "C.UTF-8"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5000"
    assert env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == env["AWS_CONFIG_FILE"] == os.devnull
    leaked = {k for k in env if "KEY" in k or "TOKEN" in k or "CREDENTIALS_FULL" in k}
    assert not leaked
    assert not {k for k in env if k.startswith(("LAMBDAFAN", "AWS_LAMBDA", "AWS_PROFILE"))}


@pytest.mark.parametrize(
    ("status", "error_type", "cause"),
    [
        (0, "ScriptProcessExited", "code 0"),
        (3 << 8, "ScriptProcessExited", "code 3"),
        (signal.SIGSEGV, "ScriptProcessCrashed", "SIGSEGV (a segmentation fault)"),
        (signal.SIGKILL, "ScriptProcessCrashed", "SIGKILL (out of memory?)"),
        (None, "ScriptProcessLost", "went away"),
    ],
)
def test_a_process_that_ended_early_is_described(
    status: int | None, error_type: str, cause: str
) -> None:
    described = describe_exit(status)
    assert described[0] == error_type and cause in described[1]


def test_records_cross_the_pipe_as_they_would_be_stored() -> None:
    record = {"n": 1.5, "b": b"\x00\xff", "nested": [{"B": "not a type tag"}], "s": {2, 1}}
    line = script_wire.record_message("us-east-1", record)
    assert line is not None
    from lambda_src.records import to_dynamo

    assert script_wire.record_of(script_wire.decode(line)) == to_dynamo(record)
    assert script_wire.record_message("us-east-1", {"x": "y" * script_wire.MAX_LINE}) is None


@pytest.mark.parametrize(
    "line",
    [b"not json\n", b"[1]\n", b'{"e": 1}\n', b'{"e": "rec", "r": 5}\n', b"\xff\n"],
)
def test_a_message_the_worker_cannot_read_is_refused(line: bytes) -> None:
    with pytest.raises(script_wire.WireError):
        script_wire.decode(line)


@pytest.mark.parametrize(
    "typed",
    [None, {"S": "x"}, {"M": {"a": {"B": "not base64!"}}}, {"M": {"a": {"Q": 1}}}, {"M": []}],
)
def test_a_record_that_is_not_a_dynamodb_map_is_refused(typed: Any) -> None:
    with pytest.raises(script_wire.WireError):
        script_wire.record_of({"e": "rec", "r": "us-east-1", "d": typed})


def _children(pid: int) -> set[int]:
    """The live processes whose parent is `pid` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_closing_the_sandbox_with_a_script_still_running_leaves_no_process_behind() -> None:
    from lambda_src.script_runner import Job
    from lambda_src.scripts import Account

    sandbox = ProcessSandbox(environ={"PATH": os.environ.get("PATH", ""), "HOME": "/tmp"})
    job = Job("hangs", str(HERE / "hangs.py"), ("us-east-1",), Account(A, "acct"), "us-east-1")
    process = sandbox.start(job)
    kinds = []
    for message in process.messages():  # until its record: it then sleeps for an hour
        kinds.append(message["e"])
        if message["e"] not in ("ready", "start"):
            break
    assert kinds[-1] == "rec", kinds
    zygote = sandbox._zygote
    assert zygote is not None
    runners = _children(zygote.pid)
    assert runners
    began = time.monotonic()
    sandbox.close()  # the runner does not end: the zygote is told to stop them, and go
    assert time.monotonic() - began < 6
    assert zygote.returncode == 0  # its own exit, having killed its runners (not a SIGKILL)
    deadline = time.monotonic() + 3
    while any(_running(p) for p in runners) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_running(p) for p in runners)
    process.close()


def _running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_yielded_values_and_resources_are_records_and_errors_show_their_chain(
    worker_aws: ProcessSandbox,
) -> None:
    result, store = run_account(settings_for("friendly"), worker_aws)
    path = HERE / "friendly.py"
    assert errors_of(result) == {
        ("friendly", "us-east-1"): (
            "_csv.Error",
            "need to escape, but no escapechar set (during handling of KeyError at line 13: "
            f"'Tags') (at {path}:15)",
        ),
        ("friendly", "eu-west-1"): (
            "NameError",
            "name 'undefined_name' is not defined (during handling of KeyError at line 17: "
            f"'Tags') (at {path}:19)",
        ),
    }
    found = [{k: v for k, v in r.items() if k != "script"} for r in records(store, A)]
    assert sorted(found, key=str) == [
        {"region": "us-east-1", "id": "vol-0123456789abcdef0"},
        {"region": "us-east-1", "value": "vol-1"},
    ]


def test_a_pair_that_printed_and_found_nothing_says_so(module_sandbox: ProcessSandbox) -> None:
    job = Job(
        script="prints",
        path=str(HERE / "prints.py"),
        regions=REGIONS,
        account=Account(A, "a"),
        home_region="us-east-1",
    )
    process = module_sandbox.start(job)
    try:
        ends = {m["r"]: m for m in process.messages() if m["e"] == "end"}
    finally:
        process.close()
    assert ends["us-east-1"].get("printed") == len(f"{A} us-east-1 vol-1\n")
    assert "printed" not in ends["eu-west-1"]  # printed nothing


def test_a_failure_carries_its_whole_traceback_when_asked(module_sandbox: ProcessSandbox) -> None:
    job = Job(
        script="friendly",
        path=str(HERE / "friendly.py"),
        regions=("eu-west-1",),
        account=Account(A, "a"),
        home_region="us-east-1",
        traceback=True,
    )
    process = module_sandbox.start(job)
    try:
        [error] = [m for m in process.messages() if m["e"] == "err"]
    finally:
        process.close()
    assert error["tb"].startswith("Traceback (most recent call last):")
    assert "During handling of the above exception, another exception occurred" in error["tb"]
    assert error["tb"].endswith("NameError: name 'undefined_name' is not defined\n")


def volume_in(account: str | None, region: str) -> str:
    """Create a volume in `account` (None: the caller's own); returns its id."""
    session = boto3.Session()
    if account is not None:
        session = assumed(session, account, "OrganizationAccountAccessRole")
    ec2: Any = session.client("ec2", region_name=region)
    return str(ec2.create_volume(AvailabilityZone=f"{region}a", Size=1)["VolumeId"])


def test_plain_boto3_calls_see_only_the_account_being_scanned(
    worker_aws: ProcessSandbox,
) -> None:
    caller = boto3.client("sts").get_caller_identity()["Account"]
    assert caller not in (A, B)
    volume_in(None, "us-east-1")  # the caller's own: no member account may report it
    mine = {(a, r): volume_in(a, r) for a in (A, B) for r in REGIONS}
    settings = settings_for("module_client")
    for account in (A, B):
        result, store = run_account(settings, worker_aws, account)
        assert not result.errors, result.errors
        found = {r["region"]: r for r in records(store, account)}
        assert set(found) == set(REGIONS)
        for region in REGIONS:
            record = found[region]
            expected = [mine[(account, region)]]
            assert record["import_identity"] == account
            assert record["boto3_client"] == expected
            assert record["boto3_session"] == expected
            assert record["boto3_resource"] == expected
            assert record["default_region"] == "us-east-1"
        # The module-level client was made at import, in the home region.
        assert found["us-east-1"]["module_client"] == [mine[(account, "us-east-1")]]


def test_an_account_scoped_script_is_given_the_home_region_and_its_records_say_global(
    worker_aws: ProcessSandbox,
) -> None:
    settings = settings_for("account_wide")
    result, store = run_account(settings, worker_aws)
    assert not result.errors, result.errors
    [record] = records(store, A)
    assert record["region"] == "global"
    assert record["given"] == settings.home_region == "us-east-1"


def printed_by(script: str, regions: tuple[str, ...]) -> tuple[list[str], dict[str, Any]]:
    """Run `script` in `regions` of account A in a sandbox of its own, handing its output to a
    list: (the lines it printed, its pairs' `end` messages by region)."""
    lines: list[str] = []
    sandbox = ProcessSandbox(output=lines.append)
    job = Job(
        script=script,
        path=str(HERE / f"{script}.py"),
        regions=regions,
        account=Account(A, "a"),
        home_region="us-east-1",
    )
    try:
        process = sandbox.start(job)
        ends = {m["r"]: m for m in process.messages() if m["e"] == "end"}
        process.close()
    finally:
        sandbox.close()
    return lines, ends


def test_what_scripts_print_goes_line_by_line_to_the_output_given(moto_server: str) -> None:
    # A local run's progress bar draws these above itself: written to the terminal directly,
    # they were drawn over by the bar.
    lines, _ = printed_by("prints", REGIONS)
    # Closed, the sandbox has handed over every line: a summary printed next comes after them.
    assert lines == [f"prints {A} us-east-1: {A} us-east-1 vol-1"]


def test_lines_printed_at_once_arrive_whole_and_labelled_and_logging_counts(
    moto_server: str,
) -> None:
    regions = ("us-east-1", "eu-west-1", "ap-south-1", "us-west-2")
    lines, ends = printed_by("chatty", regions)
    assert sorted(lines) == sorted(
        [f"chatty {A} {r}: one line in pieces" for r in regions]
        + [f"chatty {A} {r}: found vol-1 in {r}" for r in regions]
    )
    # Logged (to stderr) and yielded nothing: flagged as a pair that printed.
    assert all(ends[r]["printed"] > len("one line in pieces\n") for r in regions)
