"""Script tools: the starter, one run of one script (as the Worker runs it), the catalog."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.stub import Stubber

from lambda_src.scripts import GLOBAL_REGION, Account, ScriptError, check_script, load_script
from lambdafan.aws import Aws
from lambdafan.config import Config, ConfigError, load_config
from lambdafan.errors import LambdafanError, UsageError
from lambdafan.script_tools import trial
from lambdafan.script_tools.catalog import list_scripts, optional_config
from lambdafan.script_tools.starter import starter_script, write_starter
from lambdafan.script_tools.trial import Credentials, account_name, choose_credentials
from tests.conftest import REGION, SCRIPTS, assumed, write_script

# In-process moto is out of a sandbox's reach: these run the script on this process's threads
# (tests/test_cli_script.py runs `script test` in the sandbox against moto's server).
run_once = functools.partial(trial.run_once, sandbox=False)

MEMBER = "111111111111"
ROLE = "OrganizationAccountAccessRole"
ASSUME = Credentials(role=ROLE)
OWN = Credentials(role=None)


def in_member(session: Any) -> Any:
    """A session inside the member account (moto isolates each account's resources)."""
    return assumed(session, MEMBER, ROLE)


def write_config(folder: Path, scripts: list[str], **extra: Any) -> Path:
    config = {
        "fleet": "tools",
        "home_region": REGION,
        "accounts": {"list": [{"id": MEMBER, "name": "prod"}]},
        "member_role": {"name": ROLE, "external_id": "from-config"},
        "scripts": scripts,
        **extra,
    }
    path = folder / "lambdafan.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


# --- the starter -----------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["region", "account"])
def test_starter_follows_the_contract(tmp_path: Path, scope: Any) -> None:
    path = write_starter("inventory", scope, tmp_path)

    assert path == tmp_path / "inventory.py"
    assert check_script(path) == scope
    text = path.read_text()
    assert text == starter_script("inventory", scope)
    assert text.startswith('"""inventory: ')
    assert "get_paginator" in text and "session.client(" in text


def test_region_starter_yields_one_record_per_instance(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "true")  # it runs one of the default images
    ec2 = in_member(aws).client("ec2", region_name="eu-west-1")
    image = ec2.describe_images()["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=image, MinCount=3, MaxCount=3, InstanceType="t3.micro")
    path = write_starter("instances", "region", tmp_path)

    run = run_once(
        path,
        aws=Aws(aws),
        account=Account(MEMBER, "prod"),
        region="eu-west-1",
        credentials=ASSUME,
    )

    assert run.ok and run.warnings == []
    assert len(run.rows) == 3
    row = run.rows[0]
    assert row["account_id"] == MEMBER and row["account_name"] == "prod"
    assert row["region"] == "eu-west-1" and row["script"] == "instances"
    assert row["type"] == "t3.micro" and row["state"] == "running"
    # The record went through the stored form: the datetime is ISO text, as in the results table.
    assert isinstance(row["launched"], str) and row["launched"].startswith("20")
    # Without --region, a region script runs in the session's (home) region: nothing there.
    home = run_once(
        path, aws=Aws(aws), account=Account(MEMBER, "prod"), region=None, credentials=ASSUME
    )
    assert home.region == REGION and home.rows == []


def test_account_starter_yields_one_record_per_iam_user(aws: Any, tmp_path: Path) -> None:
    iam = in_member(aws).client("iam")
    for user in ("alice", "bob"):
        iam.create_user(UserName=user)
    path = write_starter("users", "account", tmp_path)

    run = run_once(
        path,
        aws=Aws(aws),
        account=Account(MEMBER, MEMBER),
        region="eu-west-1",
        credentials=ASSUME,
    )

    assert run.ok
    assert run.region == GLOBAL_REGION
    assert sorted(r["user_name"] for r in run.rows) == ["alice", "bob"]
    assert all(r["region"] == GLOBAL_REGION for r in run.rows)
    assert any("--region eu-west-1 is ignored" in w for w in run.warnings)


# --- running one script ----------------------------------------------------------------------


def test_assume_runs_in_the_member_account_and_no_assume_in_your_own(aws: Any) -> None:
    in_member(aws).client("s3").create_bucket(Bucket="member-only-bucket")
    buckets = SCRIPTS / "buckets.py"
    account = Account(MEMBER, "prod")

    with_role = run_once(buckets, aws=Aws(aws), account=account, region=None, credentials=ASSUME)
    as_is = run_once(buckets, aws=Aws(aws), account=account, region=None, credentials=OWN)

    assert [r["bucket"] for r in with_role.rows] == ["member-only-bucket"]
    assert with_role.warnings == []
    assert as_is.ok and as_is.rows == []
    # --account is only a label with --no-assume: say so when it is not where the records are from.
    assert len(as_is.warnings) == 1
    assert "123456789012, not 111111111111" in as_is.warnings[0]


def test_no_assume_in_the_callers_own_account_does_not_warn(aws: Any) -> None:
    own = aws.client("sts").get_caller_identity()["Account"]
    run = run_once(
        SCRIPTS / "whoami.py",
        aws=Aws(aws),
        account=Account(own, own),
        region=None,
        credentials=OWN,
    )
    assert run.warnings == []
    assert run.rows[0]["caller_account"] == own


def test_a_raising_script_keeps_its_records_and_names_file_and_line(
    aws: Any, tmp_path: Path
) -> None:
    path = write_script(
        tmp_path,
        "boom.py",
        """\
        def collect(session, region, account):
            yield {"n": 1}
            raise RuntimeError("boom in " + region)
        """,
    )

    run = run_once(
        path,
        aws=Aws(aws),
        account=Account(MEMBER, MEMBER),
        region="eu-west-1",
        credentials=ASSUME,
    )

    assert not run.ok and run.failure is not None
    assert [r["n"] for r in run.rows] == [1]
    assert run.failure.location == f"{path}:3"
    assert run.failure.line() == f"{path}:3: RuntimeError: boom in eu-west-1"


def test_an_aws_error_in_a_script_is_named_by_its_code(aws: Any, tmp_path: Path) -> None:
    path = write_script(
        tmp_path,
        "missing.py",
        """\
        def collect(session, region, account):
            session.client("iam").get_user(UserName="nobody")
        """,
    )
    run = run_once(
        path, aws=Aws(aws), account=Account(MEMBER, MEMBER), region=None, credentials=ASSUME
    )
    assert run.failure is not None
    assert run.failure.error_type == "NoSuchEntity"
    assert run.failure.location == f"{path}:2"


def test_what_collect_returns_is_checked_as_the_worker_checks_it(aws: Any, tmp_path: Path) -> None:
    one = write_script(tmp_path, "one.py", "def collect(s, r, a):\n    return {'single': True}\n")
    bad = write_script(tmp_path, "bad.py", "def collect(s, r, a):\n    return 5\n")
    kwargs: dict[str, Any] = {
        "aws": Aws(aws),
        "account": Account(MEMBER, MEMBER),
        "region": None,
        "credentials": ASSUME,
    }

    assert [r["single"] for r in run_once(one, **kwargs).rows] == [True]
    failed = run_once(bad, **kwargs).failure
    assert failed is not None and failed.error_type == "TypeError"
    assert "collect returned int" in failed.message


def test_a_broken_script_raises_before_anything_runs(aws: Any, tmp_path: Path) -> None:
    path = write_script(tmp_path, "broken.py", "def collect(session, region, account)\n    pass\n")
    with pytest.raises(ScriptError, match=r"broken.py:1: syntax error"):
        run_once(path, aws=Aws(aws), account=Account(MEMBER, MEMBER), region=None, credentials=OWN)


class _StubbedBase:
    """A base session whose STS client refuses assume_role, as a missing trust policy does."""

    region_name = REGION

    def __init__(self) -> None:
        self.sts = boto3.client("sts", region_name=REGION)
        self.stubber = Stubber(self.sts)
        self.stubber.add_client_error("assume_role", "AccessDenied", "not authorized")
        self.stubber.activate()

    def client(self, service: str, **_: Any) -> Any:
        assert service == "sts"
        return self.sts


def test_a_role_that_cannot_be_assumed_is_one_clear_error() -> None:
    with pytest.raises(LambdafanError) as info:
        run_once(
            SCRIPTS / "whoami.py",
            aws=Aws(_StubbedBase()),
            account=Account(MEMBER, MEMBER),
            region=None,
            credentials=Credentials(role="missing-role"),
        )
    message = str(info.value)
    assert f"arn:aws:iam::{MEMBER}:role/missing-role" in message
    assert "AccessDenied: not authorized" in message


# --- credentials and config ------------------------------------------------------------------


def test_credentials_come_from_the_config_unless_options_say_otherwise(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, ["ec2_instances"]))

    from_config = choose_credentials(config, assume=True, role=None, external_id=None, why_none="?")
    given = choose_credentials(config, assume=True, role="Other", external_id="mine", why_none="?")

    assert from_config == Credentials(
        role=ROLE,
        external_id="from-config",
        session_duration=3600,
        session_name="lambdafan-tools-script-test",
    )
    assert (given.role, given.external_id) == ("Other", "mine")
    assert choose_credentials(None, assume=False, role=None, external_id=None, why_none="?") == OWN


def test_credentials_without_a_role_or_with_contradicting_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match=r"no config here: pass --role NAME"):
        choose_credentials(
            None, assume=True, role=None, external_id=None, why_none="no config here"
        )
    with pytest.raises(UsageError, match="--no-assume"):
        choose_credentials(None, assume=False, role="R", external_id=None, why_none="?")


def test_optional_config_and_account_names(tmp_path: Path) -> None:
    assert optional_config(tmp_path / "lambdafan.yaml", explicit=False) is None
    with pytest.raises(ConfigError, match="config file not found"):
        optional_config(tmp_path / "lambdafan.yaml", explicit=True)
    config = optional_config(write_config(tmp_path, ["ec2_instances"]), explicit=False)
    assert isinstance(config, Config)
    assert account_name(config, MEMBER) == "prod"
    assert account_name(config, "222222222222") == "222222222222"
    assert account_name(None, MEMBER) == MEMBER


# --- `script new` ----------------------------------------------------------------------------


def test_write_starter_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    path = write_starter("inv", "region", tmp_path)
    path.write_text("# my edits\n")

    with pytest.raises(UsageError, match="already exists"):
        write_starter("inv", "account", tmp_path)
    assert path.read_text() == "# my edits\n"

    write_starter("inv.py", "account", tmp_path, force=True)
    assert check_script(path) == "account"


@pytest.mark.parametrize("name", ["", "my script", "a.b", "bad#name", "../escape"])
def test_write_starter_rejects_names_a_fleet_cannot_use(tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="not a valid script name"):
        write_starter(name, "region", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_write_starter_creates_the_folder(tmp_path: Path) -> None:
    path = write_starter("x-1", "region", tmp_path / "scripts" / "new")
    assert load_script(path).name == "x-1"


# --- `script list` ---------------------------------------------------------------------------


def test_list_shows_configured_scripts_first_then_unused_builtins(tmp_path: Path) -> None:
    write_script(
        tmp_path,
        "mine.py",
        '"""My own inventory.\n\nMore text."""\nSCOPE = "account"\n'
        "def collect(s, r, a):\n    return None\n",
    )
    config = load_config(write_config(tmp_path, ["mine.py", "s3_buckets"]))

    infos = list_scripts(config)

    names = [i.name for i in infos]
    assert names[:2] == ["mine", "s3_buckets"]
    assert names.count("s3_buckets") == 1 and "ec2_instances" in names
    mine, s3 = infos[0], infos[1]
    assert (mine.scope, mine.source, mine.summary, mine.configured) == (
        "account",
        "mine.py",
        "My own inventory.",
        True,
    )
    assert (s3.scope, s3.source, s3.configured) == ("account", "built-in", True)
    ec2 = next(i for i in infos if i.name == "ec2_instances")
    assert (ec2.scope, ec2.source, ec2.configured) == ("region", "built-in", False)
    assert ec2.summary.startswith("Every EC2 instance")


def test_list_without_a_config_shows_the_builtins() -> None:
    infos = list_scripts(None)
    assert {i.name for i in infos} >= {"ec2_instances", "s3_buckets", "iam_users_without_mfa"}
    assert all(i.source == "built-in" and i.summary and not i.configured for i in infos)


def test_an_unknown_region_is_a_usage_error(aws: Any) -> None:
    with pytest.raises(UsageError, match="'us-east-9' is not an AWS region"):
        run_once(
            SCRIPTS / "whoami.py",
            aws=Aws(aws),
            account=Account(MEMBER, MEMBER),
            region="us-east-9",
            credentials=ASSUME,
        )


CHAINED = """\
def collect(session, region, account):
    try:
        {}["Tags"]
    except KeyError:
        missing
"""


def test_a_failure_names_the_error_it_was_raised_in_and_carries_its_traceback_when_asked(
    aws: Any, tmp_path: Path
) -> None:
    path = write_script(tmp_path, "chained.py", CHAINED)
    kwargs: dict[str, Any] = {
        "aws": Aws(aws),
        "account": Account(MEMBER, MEMBER),
        "region": "eu-west-1",
        "credentials": ASSUME,
    }

    plain = run_once(path, **kwargs).failure
    full = run_once(path, traceback=True, **kwargs).failure

    assert plain is not None and plain.traceback is None
    assert plain.line() == (
        f"{path}:5: NameError: name 'missing' is not defined "
        "(during handling of KeyError at line 3: 'Tags')"
    )
    assert full is not None and full.traceback is not None
    assert full.traceback.startswith("Traceback (most recent call last):")
    assert "KeyError: 'Tags'" in full.traceback and f'File "{path}", line 5' in full.traceback


def test_an_import_failure_carries_its_traceback_when_asked(aws: Any, tmp_path: Path) -> None:
    path = write_script(
        tmp_path, "imports.py", "import json\njson.loads('{')\n\ndef collect(s, r, a):\n    pass\n"
    )
    failure = run_once(
        path,
        aws=Aws(aws),
        account=Account(MEMBER, MEMBER),
        region=None,
        credentials=ASSUME,
        traceback=True,
    ).failure
    assert failure is not None and failure.error_type == "json.decoder.JSONDecodeError"
    assert failure.location == f"{path}:2"
    assert failure.traceback is not None and f'File "{path}", line 2' in failure.traceback


def test_in_the_sandbox_a_script_that_prints_and_yields_nothing_is_warned_about(
    server: str, tmp_path: Path
) -> None:
    printing = write_script(
        tmp_path, "prints.py", "def collect(session, region, account):\n    print('vol-1')\n"
    )
    chained = write_script(tmp_path, "chained.py", CHAINED)
    kwargs: dict[str, Any] = {
        "aws": Aws(boto3.Session(region_name=REGION)),
        "account": Account(MEMBER, MEMBER),
        "region": REGION,
        "credentials": ASSUME,
    }

    run = trial.run_once(printing, **kwargs)
    failed = trial.run_once(chained, traceback=True, **kwargs)

    assert run.ok and run.rows == []
    assert run.warnings == [trial.PRINTED_NOTHING_YIELDED.format(chars=len("vol-1\n"))]
    assert failed.failure is not None and failed.failure.traceback is not None
    assert "During handling of the above exception" in failed.failure.traceback
    assert failed.failure.message.endswith("(during handling of KeyError at line 3: 'Tags')")
