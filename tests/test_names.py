"""lambda_src.names: partitions, ARNs, keys; a fleet in China; no other module formats them."""

from __future__ import annotations

import ast
import dataclasses
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore
import pytest
from typer.testing import CliRunner

from lambda_src import names, worker
from lambda_src.scripts import Account
from lambda_src.settings import FleetSettings
from lambdafan.cli import app
from lambdafan.config import Config, load_config
from lambdafan.deploy.bundle import build_bundle
from lambdafan.deploy.fleet import Identity, caller_identity, fleet_arns
from lambdafan.deploy.member_role import member_role_template
from lambdafan.deploy.model import fleet_model
from lambdafan.errors import UsageError
from tests.conftest import deployable_config

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"

# --- partitions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("eu-west-1", "aws"),
        ("ap-southeast-2", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("us-gov-east-1", "aws-us-gov"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
        ("us-isof-south-1", "aws-iso-f"),
        ("eu-isoe-west-1", "aws-iso-e"),
        ("eusc-de-east-1", "aws-eusc"),
    ],
)
def test_partition_for_region(region: str, partition: str) -> None:
    assert names.partition_for(region) == partition


def test_partition_for_agrees_with_botocore_for_every_known_region() -> None:
    data = json.loads((Path(botocore.__file__).parent / "data" / "partitions.json").read_text())
    checked = 0
    for partition in data["partitions"]:
        for region in partition["regions"]:
            if region.endswith("-global"):  # pseudo-regions such as aws-cn-global
                continue
            assert names.partition_for(region) == partition["id"], region
            checked += 1
    assert checked > 30


# --- names and ARNs -----------------------------------------------------------------------------


def test_resource_names() -> None:
    assert names.function_name("f", "worker") == "f-worker"
    assert names.role_name("f", "director") == "f-director"
    assert names.inline_policy_name("f", "notifier") == "f-notifier"
    assert names.log_group_name("f", "worker") == "/aws/lambda/f-worker"
    assert names.table_name("f") == "f-results"
    assert names.rule_name("f") == names.permission_id("f") == "f-schedule"
    assert names.FLEET_TAG == "lambdafan:fleet"
    assert names.KINDS == ("director", "worker", "notifier")
    assert names.HANDLERS["worker"] == "lambda_src.handlers.worker"


def test_arn_builders_take_the_partition() -> None:
    p, r, a = "aws-cn", "cn-north-1", ACCOUNT
    assert names.role_arn(p, a, "m") == f"arn:aws-cn:iam::{a}:role/m"
    assert names.role_arn(p, "*", "m") == "arn:aws-cn:iam::*:role/m"
    assert names.aws_managed_policy_arn(p, "ReadOnlyAccess") == (
        "arn:aws-cn:iam::aws:policy/ReadOnlyAccess"
    )
    assert names.function_arn(p, r, a, "f-worker") == f"arn:aws-cn:lambda:{r}:{a}:function:f-worker"
    table = names.table_arn(p, r, a, "f-results")
    assert table == f"arn:aws-cn:dynamodb:{r}:{a}:table/f-results"
    assert names.table_index_arn(table, "runs") == f"{table}/index/runs"
    assert names.log_group_arn(p, r, a, "/aws/lambda/f-worker") == (
        f"arn:aws-cn:logs:{r}:{a}:log-group:/aws/lambda/f-worker"
    )
    assert names.ses_identity_arn(p, r, a, "x.org") == f"arn:aws-cn:ses:{r}:{a}:identity/x.org"


@pytest.mark.parametrize(
    ("parameter", "expected"),
    [
        ("/a/b", f"arn:aws-us-gov:ssm:us-gov-west-1:{ACCOUNT}:parameter/a/b"),
        ("flat", f"arn:aws-us-gov:ssm:us-gov-west-1:{ACCOUNT}:parameter/flat"),
        ("arn:aws-us-gov:ssm:us-gov-east-1:1:parameter/x", "arn:aws-us-gov:ssm:us-gov-east-1:1:parameter/x"),  # noqa: E501
    ],
)  # fmt: skip
def test_ssm_parameter_arn(parameter: str, expected: str) -> None:
    assert names.ssm_parameter_arn("aws-us-gov", "us-gov-west-1", ACCOUNT, parameter) == expected


# --- S3 export and Glue -------------------------------------------------------------------------


def test_export_names() -> None:
    assert names.export_bucket_name("f", ACCOUNT, "eu-west-1") == f"f-records-{ACCOUNT}-eu-west-1"
    assert names.export_prefix("f") == "records/fleet=f/"
    assert names.export_prefix("f", "r1") == "records/fleet=f/run=r1/"
    key = names.export_key("f", "r1", "ec2-instances", ACCOUNT, "eu-west-1")
    assert key == (
        f"records/fleet=f/run=r1/script=ec2-instances/account={ACCOUNT}/region=eu-west-1/"
        "part-0.json.gz"
    )
    assert key.startswith(names.export_prefix("f", "r1"))
    assert names.s3_uri("b", "records/") == "s3://b/records/"
    assert names.export_run_template("f", "s", "${run}") == "records/fleet=f/run=${run}/script=s/"
    assert key.startswith(names.export_run_template("f", "ec2-instances", "r1"))
    assert names.glue_database_name("my-fleet") == "lambdafan_my_fleet"
    assert names.glue_table_name("EC2-Instances") == "ec2_instances"
    assert names.glue_table_name("users_without_mfa") == "users_without_mfa"


def test_export_bucket_name_fits_s3s_limit_and_stays_distinct() -> None:
    long_a, long_b = "a" * 39 + "x", "a" * 39 + "y"  # 40 chars: the longest fleet name
    region = "ap-southeast-2"
    a = names.export_bucket_name(long_a, ACCOUNT, region)
    b = names.export_bucket_name(long_b, ACCOUNT, region)
    assert len(a) <= 63 and len(b) <= 63
    assert a != b
    assert a.endswith(f"-records-{ACCOUNT}-{region}")
    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", a)
    assert names.export_bucket_name(long_a, ACCOUNT, region) == a  # deterministic


@pytest.mark.parametrize(
    "build",
    [
        lambda: names.export_key("f", "r#1", "s", ACCOUNT, "eu-west-1"),
        lambda: names.export_key("f", "r1", "s/x", ACCOUNT, "eu-west-1"),
        lambda: names.export_key("f", "r1", "s", "12", "eu-west-1"),
        lambda: names.export_key("f", "r1", "s", ACCOUNT, "eu/west"),
        lambda: names.export_prefix("f", "../r"),
        lambda: names.export_bucket_name("f", "1", "eu-west-1"),
    ],
)
def test_no_export_key_is_built_from_an_invalid_part(build: Any) -> None:
    with pytest.raises(names.KeyPartError):
        build()


def test_export_arns_take_the_partition() -> None:
    assert names.s3_bucket_arn("aws-cn", "b") == "arn:aws-cn:s3:::b"
    assert names.s3_objects_arn("aws-cn", "b", "records/fleet=f/") == (
        "arn:aws-cn:s3:::b/records/fleet=f/*"
    )


# --- table keys ---------------------------------------------------------------------------------


def test_table_keys() -> None:
    assert names.run_pk("r1") == "RUN#r1"
    assert names.records_pk("r1", ACCOUNT) == f"RUN#r1#{ACCOUNT}"
    assert names.RUN_SK == "RUN"
    assert names.RUNS_INDEX_PK == "RUNS"
    assert names.RUNS_INDEX == "runs"
    assert names.account_sk(ACCOUNT) == f"ACCT#{ACCOUNT}"
    assert names.account_sk(ACCOUNT).startswith(names.ACCOUNT_SK_PREFIX)
    assert names.error_sk(ACCOUNT, "s3", "eu-west-1", "a1") == f"ERR#{ACCOUNT}#s3#eu-west-1#a1"
    assert names.error_sk(ACCOUNT, "*", "*", "lambda") == f"ERR#{ACCOUNT}#*#*#lambda"
    assert names.error_sk_prefix() == "ERR#"
    assert names.error_sk_prefix(ACCOUNT) == f"ERR#{ACCOUNT}#"
    assert names.record_sk_prefix() == "REC#"
    assert names.record_sk_prefix("s3") == "REC#s3#"
    assert names.record_sk_prefix("s3", "eu-west-1") == "REC#s3#eu-west-1#"
    assert names.record_sk("s3", "eu-west-1", "a1", "abc.1") == "REC#s3#eu-west-1#a1#abc.1"
    assert names.record_sk("s3", "eu-west-1", "a1", "abc").startswith(
        names.record_sk_prefix("s3", "eu-west-1")
    )


def test_prefixes_select_exactly_their_keys() -> None:
    # An account's error prefix must not select another account (ids are all 12 digits, and
    # the prefix ends at the separator).
    other = "123456789013"
    assert names.error_sk(ACCOUNT, "s", "r", "a").startswith(names.error_sk_prefix(ACCOUNT))
    assert not names.error_sk(other, "s", "r", "a").startswith(names.error_sk_prefix(ACCOUNT))
    assert not names.record_sk("s3x", "r", "a", "d").startswith(names.record_sk_prefix("s3"))
    assert not names.record_sk("s3", "r1", "a", "d").startswith(names.record_sk_prefix("s3", "r"))
    assert not names.records_pk("r1", ACCOUNT).startswith(names.run_pk("r10"))


@pytest.mark.parametrize(
    "build",
    [
        lambda: names.run_pk("r#1"),
        lambda: names.run_pk(""),
        lambda: names.run_pk("r 1"),
        lambda: names.run_pk("rün"),
        lambda: names.records_pk("r1", "1234"),
        lambda: names.records_pk("r1", "12345678901a"),
        lambda: names.account_sk("1234567890123"),
        lambda: names.error_sk_prefix("1234"),
        lambda: names.error_sk(ACCOUNT, "s#3", "r", "a"),
        lambda: names.error_sk(ACCOUNT, "s", "EU-WEST-1", "a"),
        lambda: names.error_sk(ACCOUNT, "s", "r", "a#b"),
        lambda: names.record_sk_prefix("s/3"),
        lambda: names.record_sk_prefix("s", "r#"),
        lambda: names.record_sk("s", "r", "a", "xyz"),
        lambda: names.record_sk("s", "r", "*", "abc"),
    ],
)
def test_no_key_is_built_from_an_invalid_part(build: Any) -> None:
    with pytest.raises(names.KeyPartError):
        build()
    assert issubclass(names.KeyPartError, ValueError)


def test_valid_key_parts() -> None:
    assert names.run_pk("20261126T224104Z-3f9a1c") == "RUN#20261126T224104Z-3f9a1c"
    assert names.run_pk("a_b.c:d-e") == "RUN#a_b.c:d-e"
    assert names.error_sk(ACCOUNT, "*", "*", "closer").endswith("#*#*#closer")


# --- a fleet in China: aws-cn everywhere --------------------------------------------------------


def china_config(tmp_path: Path) -> Config:
    return load_config(
        deployable_config(tmp_path, "china", home_region="cn-north-1", regions=["cn-north-1"])
    )


def strings_in(value: Any) -> Iterator[str]:
    """Every string inside dataclasses, mappings and sequences (keys included)."""
    if isinstance(value, str):
        yield value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            yield from strings_in(getattr(value, item.name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


def test_china_fleet_model_and_policies_are_in_aws_cn(tmp_path: Path) -> None:
    config = china_config(tmp_path)
    arns = fleet_arns(config, Identity.for_account(ACCOUNT, config.home_region))
    model = fleet_model(config, arns)
    found = [s for s in strings_in(model) if "arn:" in s]
    # Roles, inline policies (table, logs, member role, functions), on-failure, schedule target.
    assert len(found) > 15
    assert all(s.startswith("arn:aws-cn:") for s in found), found
    worker_policy = next(r.policy for r in model.roles if r.name == "china-worker")
    assert "arn:aws-cn:iam::111111111111:role/lambdafan-member" in strings_in(worker_policy)


def test_china_member_role_template_trusts_the_aws_cn_worker(tmp_path: Path) -> None:
    config = china_config(tmp_path)
    settings = config.to_settings()
    arns = fleet_arns(config, Identity.for_account(ACCOUNT, config.home_region))
    template = json.loads(
        member_role_template(
            fleet=config.fleet,
            worker_role_arn=arns.role_arn("worker"),
            role_name=settings.member_role,
            external_id=None,
            permissions="ReadOnlyAccess",
        )
    )
    worker = template["Parameters"]["WorkerRoleArn"]
    assert worker["Default"] == f"arn:aws-cn:iam::{ACCOUNT}:role/china-worker"
    assert re.fullmatch(worker["AllowedPattern"], worker["Default"])


def test_member_role_command_with_account_id_writes_aws_cn_arns(tmp_path: Path) -> None:
    config_path = deployable_config(
        tmp_path, "china", home_region="cn-north-1", regions=["cn-north-1"]
    )
    result = CliRunner().invoke(
        app, ["member-role", "--account-id", ACCOUNT, "-c", str(config_path)]
    )
    assert result.exit_code == 0, result.output
    template = json.loads(result.stdout)
    worker = template["Parameters"]["WorkerRoleArn"]["Default"]
    assert worker == f"arn:aws-cn:iam::{ACCOUNT}:role/china-worker"
    assert "arn:aws:" not in result.stdout


def test_china_fleet_json_carries_the_partition_to_the_worker(tmp_path: Path) -> None:
    settings = china_config(tmp_path).to_settings()
    bundle = build_bundle(settings, include_scripts=False)
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        shipped = json.loads(archive.read("fleet.json"))
    assert shipped["partition"] == "aws-cn"
    loaded = FleetSettings.from_dict(shipped)
    assert loaded.partition == settings.partition == "aws-cn"

    calls: list[dict[str, Any]] = []

    class Sts:
        def assume_role(self, **params: Any) -> dict[str, Any]:
            calls.append(params)
            keys = ("AccessKeyId", "SecretAccessKey", "SessionToken")
            return {"Credentials": dict.fromkeys(keys, "x")}

    class BaseSession:
        def client(self, service: str, **_: Any) -> Any:
            assert service == "sts"
            return Sts()

    deps = worker.WorkerDeps(store=None, base_session=BaseSession(), invoke=None, scripts=())
    worker._member_credentials(loaded, deps, Account(id="210987654321", name="m"), "r1")
    assert [c["RoleArn"] for c in calls] == ["arn:aws-cn:iam::210987654321:role/lambdafan-member"]


def test_settings_refuse_a_partition_other_than_the_home_regions() -> None:
    with pytest.raises(ValueError, match="partition"):
        FleetSettings(fleet="f", home_region="cn-north-1", scripts=(), partition="aws")
    assert FleetSettings(fleet="f", home_region="us-gov-west-1", scripts=()).partition == (
        "aws-us-gov"
    )


def test_credentials_of_another_partition_are_a_usage_error(tmp_path: Path) -> None:
    class Sts:
        def get_caller_identity(self) -> dict[str, str]:
            return {"Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:user/me"}

    class Clients:
        sts = Sts()

    identity = caller_identity(Clients())
    assert identity == Identity(ACCOUNT, "aws")
    with pytest.raises(UsageError, match=r"partition aws-cn.*partition aws"):
        fleet_arns(china_config(tmp_path), identity)


# --- nothing else formats an ARN or a key -------------------------------------------------------

# A formatter's literal starts the ARN (`"arn:"`, `f"arn:{partition}:..."`).
_ARN_LITERAL = re.compile(r"\^?arn:")
# Validation, not formatting: a pattern checking a user-supplied ARN matches every partition
# with a character class (`arn:aws[-a-z]*:`, member_role's `_ROLE_ARN`, config's SNS topic).
# A formatted ARN never holds one, so these stay next to the check they serve.
_ARN_VALIDATION_PATTERN = re.compile(r"\^?arn:aws\[")
_KEY_LITERAL = re.compile(r"\b(RUN|ACCT|ERR|REC)#")
_KEY_CONSTANTS = {"RUN", "RUNS"}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the module, class and function docstring nodes (they document the layout)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def name_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of code string literals that format an ARN or a table key."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        text = node.value
        if id(node) in docstrings:
            continue
        arn = _ARN_LITERAL.match(text) and not _ARN_VALIDATION_PATTERN.match(text)
        if arn or _KEY_LITERAL.search(text) or text in _KEY_CONSTANTS:
            hits.append((node.lineno, text))
    return hits


def test_the_scanner_finds_literals_and_skips_docstrings_and_validators() -> None:
    source = '''
"""Layout: RUN#<run_id> / arn:aws:iam::1:role/x"""
PATTERN = r"^arn:aws[a-z-]*:iam::\\d{12}:role/.+$"
def f(p, a):
    """Builds arn:... from RUN# keys."""
    # arn:aws comment
    return f"arn:{p}:iam::{a}:role/x", "RUN", f"ACCT#{a}", "see the arn: docs"
'''
    assert sorted(text for _, text in name_literals(source)) == ["ACCT#", "RUN", "arn:"]
    # The one module allowed to hold them does.
    assert name_literals((ROOT / "lambda_src" / "names.py").read_text(encoding="utf-8"))


def test_no_module_but_names_formats_an_arn_or_a_table_key() -> None:
    allowed = ROOT / "lambda_src" / "names.py"
    modules = [p for d in ("lambdafan", "lambda_src") for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(modules) > 30
    offenders = {
        f"{path.relative_to(ROOT)}:{line}": text
        for path in modules
        if path != allowed
        for line, text in name_literals(path.read_text(encoding="utf-8"))
    }
    assert offenders == {}, "build names, ARNs and keys with lambda_src.names"


def test_arn_accounts_reads_the_account_field_of_every_arn() -> None:
    text = "arn:aws:iam::111111111111:role/x and arn:aws-cn:sns:cn-north-1:222222222222:t"
    assert names.arn_accounts(text) == ["111111111111", "222222222222"]
    assert names.arn_accounts("arn:aws:s3:::bucket") == []
    assert names.arn_accounts("111111111111") == []


def test_region_part_accepts_region_names_only() -> None:
    assert names.region_part("eu-west-1") == "eu-west-1"
    for bad in ("eu#west", "EU-WEST-1", "", "é-1"):
        with pytest.raises(names.KeyPartError):
            names.region_part(bad)
