"""`validate` reads scripts for laptop habits and never calls AWS for one; `script test` shows
the same findings; scripts are imported with no command line (`sys.argv = [script path]`)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from lambda_src.sandbox import ProcessSandbox
from lambda_src.script_runner import Job
from lambda_src.scripts import Account
from tests.conftest import Recorder, cli
from tests.test_import_check import write_fleet

SANDBOX_SCRIPTS = Path(__file__).parent / "sandbox_scripts"
LAPTOP = Path(__file__).parent / "laptop_scripts"

# Lists the regions at import (line 6), and proves it was imported by leaving a file behind.
REGIONS_AT_IMPORT = """\
import pathlib
import boto3

pathlib.Path(__file__).with_suffix(".imported").touch()
ec2 = boto3.client("ec2", region_name="us-east-1")
REGIONS = [r["RegionName"] for r in ec2.describe_regions()["Regions"]]
SCOPE = "account"


def collect(session, region, account):
    for name in REGIONS:
        yield {"region": name}
"""
# The same call, out of static analysis' sight.
HIDDEN_CALL = """\
import boto3

SCOPE = "account"
ask = getattr(boto3.client("sts", region_name="us-east-1"), "get_caller_identity")
ME = ask()["Account"]


def collect(session, region, account):
    yield {"me": ME}
"""
CLEAN = """\
import pathlib

pathlib.Path(__file__).with_suffix(".imported").touch()


def collect(session, region, account):
    ec2 = session.client("ec2", region_name=region)
    yield from ec2.describe_volumes()["Volumes"]
"""


def write(folder: Path, name: str, source: str) -> str:
    (folder / name).write_text(textwrap.dedent(source))
    return name


def test_a_script_calling_aws_at_import_is_not_imported_and_validate_passes(
    tmp_path: Path, recorder: Recorder
) -> None:
    scripts = [
        write(tmp_path, "regions.py", REGIONS_AT_IMPORT),
        write(tmp_path, "hidden.py", HIDDEN_CALL),
        write(tmp_path, "clean.py", CLEAN),
    ]
    recorder.start()
    done = cli("validate", "-c", str(write_fleet(tmp_path, scripts)))
    assert recorder.stop() == []  # validate called AWS for no script
    assert done.returncode == 0, done.stderr
    regions, hidden = tmp_path / "regions.py", tmp_path / "hidden.py"
    assert done.stderr.splitlines() == [
        f'warning: {regions}:5: boto3.client("ec2", region_name="us-east-1") outside collect: '
        'works, but use session.client("ec2", region_name=region)',
        f"warning: {regions}:6: ec2.describe_regions() runs at import, in every account: "
        "move it into collect",
        f'warning: {hidden}:4: boto3.client("sts", region_name="us-east-1") outside collect: '
        'works, but use session.client("sts", region_name=region)',
        f"{regions}: import not tried: it calls AWS at import, line 6",
        f"warning: {hidden}:5: calls AWS at import (without credentials here: "
        "NoCredentialsError), so its import was not checked: move the call into "
        "collect(session, region, account)",
    ]
    assert not (tmp_path / "regions.imported").exists()
    assert (tmp_path / "clean.imported").exists()  # the others are imported


def test_a_collect_that_only_prints_fails_validate(tmp_path: Path) -> None:
    name = write(
        tmp_path,
        "printer.py",
        """\
        def collect(session, region, account):
            for volume in session.client("ec2", region_name=region).describe_volumes()["Volumes"]:
                print(volume["VolumeId"])
        """,
    )
    done = cli("validate", "-c", str(write_fleet(tmp_path, [name])))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {tmp_path / name}:3: collect prints but never yields (0 records): "
        "yield dicts instead"
    ]


def test_a_collect_that_only_logs_fails_validate(tmp_path: Path) -> None:
    name = write(
        tmp_path,
        "logger.py",
        """\
        import logging
        log = logging.getLogger(__name__)

        def collect(session, region, account):
            for user in session.client("iam").list_users()["Users"]:
                log.info("user %s created %s", user["UserName"], user["CreateDate"])
        """,
    )
    done = cli("validate", "-c", str(write_fleet(tmp_path, [name])))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {tmp_path / name}:6: collect logs but never yields (0 records): "
        "yield dicts instead"
    ]


def test_ported_laptop_scripts_and_builtins_validate_without_a_word(tmp_path: Path) -> None:
    ported = tmp_path / "unused_groups.py"
    done = cli("script", "adapt", str(LAPTOP / "unused_security_groups.py"), "-o", str(ported))
    assert done.returncode == 0, done.stderr
    config = write_fleet(tmp_path, [ported.name, "ec2_instances", "iam_users_without_mfa"])
    done = cli("validate", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_a_script_parsing_its_command_line_at_import_validates(tmp_path: Path) -> None:
    name = write(tmp_path, "parses_args.py", (SANDBOX_SCRIPTS / "parses_args.py").read_text())
    done = cli("validate", "-c", str(write_fleet(tmp_path, [name])))
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"warning: {tmp_path / name}:8: parser.parse_args(): scripts get no command line (it "
        "takes its defaults): use constants",
        f"warning: {tmp_path / name}:9: sys.argv: scripts get no command line (just the "
        "script's path): use constants",
    ]


def test_the_sandbox_gives_a_script_no_command_line() -> None:
    path = SANDBOX_SCRIPTS / "parses_args.py"
    job = Job(
        script="parses_args",
        path=str(path),
        regions=("us-east-1",),
        account=Account("111111111111", "a"),
        home_region="us-east-1",
        credentials={"AccessKeyId": "AKIAEXAMPLE", "SecretAccessKey": "x", "SessionToken": None},
    )
    sandbox = ProcessSandbox()
    try:
        process = sandbox.start(job)
        messages = list(process.messages())
        process.close()
    finally:
        sandbox.close()
    records = [m["d"] for m in messages if m["e"] == "rec"]
    assert [m for m in messages if m["e"] == "err"] == []
    assert records == [{"M": {"days": {"N": "90"}, "argv": {"L": [{"S": str(path)}]}}}]


@pytest.mark.parametrize("sandbox", ["--sandbox", "--no-sandbox"])
def test_script_test_shows_the_findings_before_the_run(
    server: str, tmp_path: Path, sandbox: str
) -> None:
    name = write(
        tmp_path,
        "volumes.py",
        """\
        import boto3

        ec2 = boto3.client("ec2")


        def collect(session, region, account):
            yield {"volumes": len(ec2.describe_volumes()["Volumes"])}
        """,
    )
    done = cli(
        "script", "test", name, "--no-assume", "--region", "us-east-1", sandbox,
        "--format", "jsonl", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["volumes"] for line in done.stdout.splitlines()] == [0]
    assert done.stderr.splitlines()[0] == (
        f'warning: {name}:3: boto3.client("ec2") has no region_name: every region scans the '
        'home one: use session.client("ec2", region_name=region)'
    )


def test_script_test_of_a_script_without_collect_shows_only_that(tmp_path: Path) -> None:
    done = cli(
        "script", "test", str(LAPTOP / "unattached_volumes.py"), "--no-assume",
        "--region", "us-east-1", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {LAPTOP / 'unattached_volumes.py'}:1: no top-level function "
        "`collect(session, region, account)` defined (a laptop script? "
        "`lambdafan script adapt unattached_volumes.py` ports it)"
    ]
