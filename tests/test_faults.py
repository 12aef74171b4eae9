"""lambdafan.faults: seeded AWS faults that botocore parses and retries like real ones."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from botocore.retries.bucket import TokenBucket
from botocore.retries.standard import ExponentialBackoff

from lambda_src import table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.settings import ScriptRef
from lambda_src.table import table_definition
from lambdafan import faults
from lambdafan.aws import Aws
from lambdafan.errors import UsageError
from lambdafan.faults import Fault, Injector
from lambdafan.local import LocalExecutor
from tests.conftest import (
    all_items,
    cli,
    deployable_config,
    load_scripts,
    make_settings,
    write_script,
)

A, B, C, D, E = (f"{n}{n}{n}{n}{n}{n}{n}{n}{n}{n}{n}{n}" for n in range(1, 6))
NO_RETRY = Config(retries={"total_max_attempts": 1})


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard/adaptive retries, minus their waits: the same attempts, at once.

    The waits are the backoff between attempts and adaptive mode's client-side rate limit
    (a token bucket that, after a throttle, lets a client send as little as 0.5 requests/s).
    """
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    monkeypatch.setattr(TokenBucket, "acquire", lambda self, amount=1, block=True: True)


def retrying(mode: str = "standard", max_attempts: int = 3) -> Config:
    return Config(retries={"mode": mode, "max_attempts": max_attempts})


# --- the grammar ------------------------------------------------------------------------------


def test_parse_reads_every_part() -> None:
    spec = (
        " dynamodb:BatchWriteItem:throttle:0.3 ,"
        "sts:AssumeRole:access_denied:1@111111111111+022222222222,*:*:connection:0.01"
    )
    assert faults.parse(spec) == [
        Fault("dynamodb", "BatchWriteItem", "throttle", 0.3),
        Fault("sts", "AssumeRole", "access_denied", 1.0, frozenset({A, "022222222222"})),
        Fault("*", "*", "connection", 0.01),
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no faults given"),
        (",", "no faults given"),
        ("dynamodb:BatchWriteItem:throttle", "is not service:Operation:kind:probability"),
        ("dynamodb:BatchWriteItem:throttle:0.3:x", "is not service:Operation:kind:probability"),
        ("dynamodb:BatchWriteItem:explode:0.3", "unknown fault kind 'explode' (one of: throttle"),
        ("dynamodb:BatchWriteItem:throttle:1.5", "probability 1.5 is not between 0 and 1"),
        ("dynamodb:BatchWriteItem:throttle:lots", "probability 'lots' is not a number"),
        ("dynamo:BatchWriteItem:throttle:0.3", "unknown service 'dynamo'"),
        ("dynamodb:BatchWrite:throttle:0.3", "dynamodb has no operation 'BatchWrite'"),
        ("dynamodb:batch_write_item:throttle:0.3", "is not an operation name like BatchWriteItem"),
        ("sts:AssumeRole:access_denied:1@1111", "'1111' is not a 12-digit account id"),
        ("sts:AssumeRole:access_denied:1@", "'' is not a 12-digit account id"),
    ],
)
def test_parse_rejects_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        faults.parse(spec)
    assert message in str(caught.value)


def test_install_from_env_is_off_by_default_and_a_usage_error_when_bad(aws: Any) -> None:
    assert faults.install_from_env(aws, {}) is None
    assert faults.install_from_env(aws, {"LAMBDAFAN_FAULTS": "  "}) is None
    with pytest.raises(UsageError) as bad_spec:
        faults.install_from_env(aws, {"LAMBDAFAN_FAULTS": "sts:AssumeRole:nope:1"})
    assert str(bad_spec.value).startswith("LAMBDAFAN_FAULTS: 'sts:AssumeRole:nope:1': unknown")
    assert "\n" not in str(bad_spec.value)
    with pytest.raises(UsageError, match="LAMBDAFAN_FAULTS_SEED: 'x' is not an integer"):
        faults.install_from_env(
            aws, {"LAMBDAFAN_FAULTS": "sts:*:throttle:1", "LAMBDAFAN_FAULTS_SEED": "x"}
        )
    injector = faults.install_from_env(
        aws, {"LAMBDAFAN_FAULTS": "sts:*:throttle:0.5", "LAMBDAFAN_FAULTS_SEED": "42"}
    )
    assert injector is not None and injector.seed == 42
    assert injector.faults == (Fault("sts", "*", "throttle", 0.5),)
    injector.uninstall()


# --- decisions --------------------------------------------------------------------------------


def decisions(seed: int, calls: list[tuple[str, str]]) -> list[str | None]:
    injector = Injector(
        [Fault("dynamodb", "*", "throttle", 0.3), Fault("sts", "*", "unavailable", 0.5)], seed
    )
    made = [injector.decide(s, o, frozenset()) for s, o in calls]
    return [f.kind if f else None for f in made]


def test_same_seed_same_faults_and_each_operation_has_its_own_sequence() -> None:
    calls = [("dynamodb", "PutItem"), ("sts", "AssumeRole")] * 100
    assert decisions(7, calls) == decisions(7, calls)
    assert decisions(7, calls) != decisions(8, calls)
    # The n-th PutItem is decided by (seed, service, operation, n) alone: calls to other
    # operations in between (another thread's, say) do not move it.
    alone = decisions(7, [("dynamodb", "PutItem")] * 100)
    assert [
        d for d, (s, _) in zip(decisions(7, calls), calls, strict=True) if s == "dynamodb"
    ] == alone


def test_probability_is_roughly_honoured() -> None:
    injector = Injector([Fault("dynamodb", "BatchWriteItem", "throttle", 0.3)], seed=1)
    hits = sum(
        injector.decide("dynamodb", "BatchWriteItem", frozenset()) is not None for _ in range(1000)
    )
    assert 250 <= hits <= 350
    assert injector.count() == hits == injector.count("dynamodb", "BatchWriteItem", "throttle")
    assert injector.attempts[("dynamodb", "BatchWriteItem")] == 1000
    always = Injector([Fault("sts", "*", "throttle", 1.0), Fault("sts", "*", "server_error", 0.0)])
    assert all(always.decide("sts", "GetCallerIdentity", frozenset()) for _ in range(100))
    assert always.count(kind="server_error") == 0


def test_first_matching_fault_in_order_wins_and_filters_apply() -> None:
    injector = Injector(
        [
            Fault("sts", "AssumeRole", "access_denied", 1.0, frozenset({A})),
            Fault("sts", "*", "throttle", 1.0),
        ]
    )
    assert injector.decide("sts", "AssumeRole", frozenset({A})) == injector.faults[0]
    assert injector.decide("sts", "AssumeRole", frozenset({B})) == injector.faults[1]
    assert injector.decide("sts", "GetCallerIdentity", frozenset({A})) == injector.faults[1]
    assert injector.decide("dynamodb", "GetItem", frozenset({A})) is None


# --- on a moto client -------------------------------------------------------------------------


def error_of(call: Any) -> ClientError:
    with pytest.raises(ClientError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize(
    ("service", "operation", "kind", "status", "code"),
    [
        ("dynamodb", "list_tables", "throttle", 400, "ProvisionedThroughputExceededException"),
        ("lambda", "list_functions", "throttle", 429, "TooManyRequestsException"),
        ("sts", "get_caller_identity", "throttle", 400, "ThrottlingException"),
        ("ec2", "describe_vpcs", "throttle", 503, "RequestLimitExceeded"),
        ("s3", "list_buckets", "throttle", 400, "ThrottlingException"),
        ("logs", "describe_log_groups", "throttle", 400, "ThrottlingException"),
        ("cloudwatch", "list_metrics", "throttle", 400, "ThrottlingException"),
        ("dynamodb", "list_tables", "server_error", 500, "InternalFailure"),
        ("sts", "get_caller_identity", "unavailable", 503, "ServiceUnavailable"),
        ("sts", "get_caller_identity", "access_denied", 403, "AccessDenied"),
        ("dynamodb", "list_tables", "access_denied", 403, "AccessDeniedException"),
        ("lambda", "list_functions", "access_denied", 403, "AccessDeniedException"),
        ("ec2", "describe_vpcs", "access_denied", 403, "UnauthorizedOperation"),
        ("cloudwatch", "list_metrics", "access_denied", 403, "AccessDeniedException"),
        ("sts", "get_caller_identity", "expired_token", 400, "ExpiredToken"),
        ("dynamodb", "list_tables", "expired_token", 400, "ExpiredTokenException"),
    ],
)
def test_each_kind_is_the_error_aws_would_send(
    aws: Any, service: str, operation: str, kind: str, status: int, code: str
) -> None:
    with faults.install(aws, [Fault(service, "*", kind)]) as injector:
        client = aws.client(service, config=NO_RETRY)
        error = error_of(getattr(client, operation))
    assert error.response["Error"]["Code"] == code
    assert error.response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert "injected by lambdafan.faults" in error.response["Error"]["Message"]
    # botocore made its modelled exception class from the code, where the service has one.
    modelled = getattr(client.exceptions, code, None)
    assert modelled is None or isinstance(error, modelled)
    assert sum(injector.injected.values()) == 1


@pytest.mark.parametrize(
    ("kind", "exception"),
    [("connection", EndpointConnectionError), ("connection_closed", ConnectionClosedError)],
)
def test_connection_faults_raise_botocores_connection_errors(
    aws: Any, kind: str, exception: type[Exception]
) -> None:
    with faults.install(aws, [Fault("sts", "GetCallerIdentity", kind)]), pytest.raises(exception):
        aws.client("sts", config=NO_RETRY).get_caller_identity()


def test_a_faulted_write_never_reaches_the_service(aws: Any) -> None:
    dynamodb = aws.client("dynamodb")
    dynamodb.create_table(**table_definition("t"))
    with faults.install(aws, [Fault("dynamodb", "PutItem", "throttle")]):
        client = aws.client("dynamodb", config=NO_RETRY)
        item = {"pk": {"S": "a"}, "sk": {"S": "b"}}
        error_of(lambda: client.put_item(TableName="t", Item=item))
    assert all_items(aws, "t") == []


# --- botocore's retry handler -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "attempts"),
    [
        ("throttle", 4),
        ("server_error", 4),
        ("unavailable", 4),
        ("connection", 4),
        ("connection_closed", 4),
        ("access_denied", 1),
        ("expired_token", 1),
    ],
)
@pytest.mark.parametrize("mode", ["standard", "adaptive"])
@pytest.mark.usefixtures("no_backoff")
def test_retryable_faults_are_retried_like_real_ones(
    aws: Any, kind: str, attempts: int, mode: str
) -> None:
    # max_attempts counts retries: 3 means 4 attempts in all.
    with faults.install(aws, [Fault("dynamodb", "ListTables", kind)]) as injector:
        client = aws.client("dynamodb", config=retrying(mode, 3))
        with pytest.raises((ClientError, EndpointConnectionError, ConnectionClosedError)):
            client.list_tables()
    assert injector.attempts[("dynamodb", "ListTables")] == attempts
    assert injector.count("dynamodb", "ListTables", kind) == attempts


@pytest.mark.usefixtures("no_backoff")
def test_retried_throttles_succeed_and_botocore_reports_the_retries(aws: Any) -> None:
    with faults.install(aws, [Fault("sts", "GetCallerIdentity", "throttle", 0.3)], seed=3) as inj:
        client = aws.client("sts", config=retrying("standard", 9))
        retries = sum(
            client.get_caller_identity()["ResponseMetadata"]["RetryAttempts"] for _ in range(100)
        )
    assert 10 <= inj.count() == retries
    assert inj.attempts[("sts", "GetCallerIdentity")] == 100 + retries


# --- install, attach, uninstall ---------------------------------------------------------------


def test_uninstall_stops_injection(aws: Any) -> None:
    injector = faults.install(aws, [Fault("sts", "*", "access_denied")])
    error_of(aws.client("sts").get_caller_identity)
    injector.uninstall()
    assert aws.client("sts").get_caller_identity()["Account"]
    with faults.install(aws, [Fault("sts", "*", "access_denied")]):
        error_of(aws.client("sts").get_caller_identity)
    assert aws.client("sts").get_caller_identity()["Account"]
    assert injector.count() == 1


def test_only_clients_made_after_install_are_covered_unless_attached(aws: Any) -> None:
    # botocore copies the session's handlers into a client when it makes it: one made before
    # install never sees the injector's. attach() hooks such a client itself.
    earlier = aws.client("sts")
    with faults.install(aws, [Fault("sts", "*", "access_denied")]) as injector:
        assert earlier.get_caller_identity()["Account"]
        error_of(aws.client("sts").get_caller_identity)
        injector.attach(earlier)
        error_of(earlier.get_caller_identity)
    assert earlier.get_caller_identity()["Account"]


def test_a_botocore_session_and_a_single_client_are_targets_too(aws: Any) -> None:
    with faults.install(aws._session, [Fault("sts", "*", "access_denied")]):
        error_of(aws.client("sts").get_caller_identity)
    client = aws.client("sts")
    with faults.install(client, [Fault("sts", "*", "access_denied")]):
        error_of(client.get_caller_identity)
        assert aws.client("sts").get_caller_identity()["Account"]
    with pytest.raises(TypeError, match="cannot install faults on str"):
        faults.install("session", [])


def test_the_account_filter_denies_assume_role_into_named_accounts_only(aws: Any) -> None:
    with faults.install(aws, faults.parse(f"sts:AssumeRole:access_denied:1@{A}+{C}")) as inj:
        sts = aws.client("sts")
        roles = {a: f"arn:aws:iam::{a}:role/OrganizationAccountAccessRole" for a in (A, B, C)}
        assert sts.assume_role(RoleArn=roles[B], RoleSessionName="test")["Credentials"]
        for role in (roles[A], roles[C]):
            denied = error_of(
                functools.partial(sts.assume_role, RoleArn=role, RoleSessionName="test")
            )
            assert denied.response["Error"]["Code"] == "AccessDenied"
    assert inj.count("sts", "AssumeRole", "access_denied") == 2


# --- the CLI --------------------------------------------------------------------------------


def test_run_local_names_the_accounts_whose_role_is_denied(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = deployable_config(
        tmp_path, "faulty", accounts={"list": [A, B, C, D, E]}, scripts=["whoami.py"]
    )
    monkeypatch.setenv("LAMBDAFAN_FAULTS", f"sts:AssumeRole:access_denied:1@{A}+{C}+{E}")

    done = cli("run", "--local", "-c", str(config))

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    failed = [line for line in done.stdout.splitlines() if "AccessDenied" in line]
    assert {a for a in (A, B, C, D, E) if any(a in line for line in failed)} == {A, C, E}
    assert "whoami (2 records)" in done.stdout


@pytest.mark.usefixtures("no_backoff")
def test_run_local_under_throttling_everywhere_lands_every_record(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = deployable_config(
        tmp_path, "faulty", accounts={"list": [A, B, C, D, E]}, scripts=["whoami.py"]
    )
    out = tmp_path / "records.jsonl"
    monkeypatch.setenv("LAMBDAFAN_FAULTS", "*:*:throttle:0.3")
    monkeypatch.setenv("LAMBDAFAN_FAULTS_SEED", "5")

    done = cli("run", "--local", "-c", str(config), "--output", str(out))

    assert done.returncode == 0, done.stdout + done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["caller_account"] for r in rows) == [A, B, C, D, E]


def test_a_bad_faults_variable_is_one_line_and_exit_2(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = deployable_config(tmp_path, "faulty", scripts=["whoami.py"])
    monkeypatch.setenv("LAMBDAFAN_FAULTS", "sts:AssumeRole:access_denied")
    done = cli("run", "--local", "-c", str(config))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "LAMBDAFAN_FAULTS: 'sts:AssumeRole:access_denied' is not" in lines[0]


# --- a whole run under throttling -------------------------------------------------------------


VPC_SCRIPT = """
def collect(session, region, account):
    for vpc in session.client("ec2", region_name=region).describe_vpcs()["Vpcs"]:
        if vpc["IsDefault"]:
            yield {"vpc": vpc["VpcId"], "region_seen": region}
"""


@pytest.mark.usefixtures("no_backoff")
def test_30_percent_throttling_everywhere_still_lands_every_record_once(
    aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 80 EC2 backends each loading moto's default AMIs take half this test's time.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")

    accounts = tuple(f"{n:012d}" for n in range(1, 21))
    regions = ("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2")
    vpcs = write_script(tmp_path, "vpcs.py", VPC_SCRIPT)
    settings = make_settings(accounts=accounts, regions=regions, scripts=("whoami",))
    settings = dataclasses.replace(
        settings, scripts=(*settings.scripts, ScriptRef("vpcs", str(vpcs)))
    )
    aws.client("dynamodb").create_table(**table_definition(settings.table_name))
    spec = "dynamodb:*:throttle:0.3,sts:*:throttle:0.3,ec2:*:throttle:0.3"

    with faults.install(aws, faults.parse(spec), seed=11) as injector:
        lambdafan_aws = Aws(aws)
        store = DynamoStore(
            lambdafan_aws.client("dynamodb"), settings.table_name, sleep=lambda _: None
        )
        result = LocalExecutor(
            settings, lambdafan_aws, store, load_scripts(settings), threads=16, sandbox=False
        ).run()

    for service in ("dynamodb", "sts", "ec2"):
        assert injector.count(service, kind="throttle") > 10, injector.injected
    records = list(table.run_records(store, result.run_id))
    pairs = Counter((r["script"], r["account_id"], r["region"]) for r in records)
    assert pairs == {(s, a, r): 1 for s in ("whoami", "vpcs") for a in accounts for r in regions}
    assert list(table.run_errors(store, result.run_id)) == []
    run = table.get_run(store, result.run_id)
    assert run is not None and run["status"] == "complete" and run["records"] == 160
    assert result.summary.ok and result.summary.records == 160
    assert len(result.notifications) == 1
