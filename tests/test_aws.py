"""The one AWS layer of the CLI side: lazy clients, one Config, error codes, the boundary."""

from __future__ import annotations

import ast
import concurrent.futures as cf
import contextlib
import socket
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from botocore.retries.bucket import TokenBucket
from botocore.retries.standard import ExponentialBackoff

from lambdafan import faults
from lambdafan.aws import (
    DEFAULT_POOL,
    Aws,
    client_config,
    connection_attempts,
    describe_error,
    error_code,
    error_message,
    is_not_found,
    session_region,
)
from lambdafan.errors import UsageError
from lambdafan.faults import Fault
from tests.conftest import REGION

PACKAGE = Path(__file__).resolve().parent.parent / "lambdafan"


def _client_error(code: str, message: str = "it went wrong") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "SomeOperation")


def test_clients_are_made_once_per_service_and_region(aws: Any) -> None:
    layer = Aws(aws)

    assert layer.client("dynamodb") is layer.client("dynamodb")
    assert layer.client("dynamodb", "eu-west-1") is not layer.client("dynamodb")
    assert layer.client("dynamodb", "eu-west-1").meta.region_name == "eu-west-1"
    assert layer.client("dynamodb").meta.region_name == REGION


def test_threads_racing_for_a_client_get_the_same_one(aws: Any) -> None:
    layer = Aws(aws)
    with cf.ThreadPoolExecutor(16) as pool:
        clients = list(pool.map(lambda _: layer.client("sts"), range(64)))
    assert len({id(c) for c in clients}) == 1


def test_the_connection_pool_is_sized_to_the_threads(aws: Any) -> None:
    many = Aws(aws, threads=64).client("dynamodb")
    few = Aws(aws, threads=2).client("dynamodb")

    assert many.meta.config.max_pool_connections == 64
    # Never below botocore's own default.
    assert few.meta.config.max_pool_connections == DEFAULT_POOL
    assert many.meta.config.retries["mode"] == "adaptive"
    assert client_config().connect_timeout > 0 and client_config().read_timeout > 0


def test_an_unknown_profile_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    with pytest.raises(UsageError, match="nope"):
        Aws.connect(profile="nope", region=REGION)


def test_assume_role_gives_an_aws_in_the_other_account(aws: Any) -> None:
    member = Aws(aws).assume_role("arn:aws:iam::111111111111:role/setup", "test")

    assert member.client("sts").get_caller_identity()["Account"] == "111111111111"
    assert member.region == REGION


@pytest.mark.parametrize("code", ["ResourceNotFoundException", "ResourceNotFound", "NoSuchEntity"])
def test_not_found_is_decided_in_one_place(code: str) -> None:
    assert is_not_found(_client_error(code))


def test_other_errors_are_not_not_found() -> None:
    assert not is_not_found(_client_error("AccessDenied"))
    assert not is_not_found(ValueError("nothing to do with AWS"))


def test_error_code_and_message() -> None:
    exc = _client_error("ThrottlingException", "Rate exceeded")

    assert error_code(exc) == "ThrottlingException"
    assert error_message(exc) == "Rate exceeded"
    assert describe_error(exc) == "ThrottlingException: Rate exceeded"
    assert error_code(ValueError("x")) == ""
    assert describe_error(ValueError("x")) == "error: x"


def test_a_real_missing_table_is_not_found(aws: Any) -> None:
    with pytest.raises(ClientError) as info:
        Aws(aws).client("dynamodb").describe_table(TableName="missing")
    assert is_not_found(info.value)


def _name_of(node: ast.expr) -> str:
    """`aws` for `aws`, `self.aws` and `opts.aws(...)`: what a method is called on."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def _aws_calls_outside_the_layer(package: Path) -> list[str]:
    """`boto3` used, or `.client(` / `.resource(` / `Session(` called on anything but an `aws`."""
    found = []
    for path in sorted(package.rglob("*.py")):
        if path == package / "aws.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(package.parent)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom):
                    modules = [node.module or ""]
                if any(m == "boto3" or m.startswith("boto3.session") for m in modules):
                    found.append(f"{where}:{node.lineno}: imports boto3")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                attr, owner_name = node.func.attr, _name_of(node.func.value)
                if attr in ("client", "resource") and not owner_name.endswith("aws"):
                    found.append(f"{where}:{node.lineno}: {owner_name}.{attr}(...)")
                if attr == "Session":
                    found.append(f"{where}:{node.lineno}: {owner_name}.Session(...)")
    return found


def test_no_module_but_aws_makes_sessions_or_clients() -> None:
    assert _aws_calls_outside_the_layer(PACKAGE) == []


def test_the_boundary_check_finds_a_session_made_elsewhere(tmp_path: Path) -> None:
    package = tmp_path / "lambdafan"
    package.mkdir()
    (package / "aws.py").write_text("import boto3\nboto3.Session().client('s3')\n")
    (package / "rogue.py").write_text(
        "import boto3\nsession = boto3.Session()\nsession.client('s3')\naws.client('s3')\n"
        "opts.aws(config).client('s3')\nmember_aws.client('s3')\nget_session().client('s3')\n"
    )

    assert _aws_calls_outside_the_layer(package) == [
        "lambdafan/rogue.py:1: imports boto3",
        "lambdafan/rogue.py:2: boto3.Session(...)",
        "lambdafan/rogue.py:3: session.client(...)",
        "lambdafan/rogue.py:7: get_session.client(...)",
    ]


# --- the session's region: the AWS SDKs' order (issue 13, row 6) -----------------------------


@pytest.mark.parametrize(
    ("flag", "env", "sdk", "expected"),
    [
        ("eu-west-1", {"AWS_REGION": "eu-west-2"}, "eu-west-3", "eu-west-1"),
        (None, {"AWS_REGION": "eu-west-2"}, "eu-west-3", "eu-west-2"),
        (None, {}, "eu-west-3", "eu-west-3"),
        (None, {}, None, "ap-south-1"),
    ],
)
def test_session_region_follows_the_sdk_order(
    flag: str | None, env: dict[str, str], sdk: str | None, expected: str
) -> None:
    assert session_region(flag, env, sdk, "ap-south-1") == expected


def test_connect_reads_aws_region_which_botocore_ignores(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    profiles = tmp_path / "config"
    profiles.write_text("[profile p]\nregion = ca-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(profiles))
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    assert Aws.connect(home_region="ap-south-1").region == "ap-south-1"
    assert Aws.connect(profile="p", home_region="ap-south-1").region == "ca-central-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-1")
    assert Aws.connect(home_region="ap-south-1").region == "us-west-1"
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    assert Aws.connect(profile="p", home_region="ap-south-1").region == "us-west-2"
    assert Aws.connect("p", "sa-east-1", home_region="ap-south-1").region == "sa-east-1"
    # boto3 itself still skips AWS_REGION: that is why lambdafan reads it.
    assert boto3.Session().region_name == "us-west-1"


def test_a_missing_profile_named_by_aws_profile_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nope")
    with pytest.raises(UsageError, match="nope"):
        Aws.connect(region=REGION)


# --- connection failures are not throttling (issue 13, row 4) ---------------------------------


def test_connection_failures_get_few_attempts_and_throttling_keeps_botocores() -> None:
    assert connection_attempts(EndpointConnectionError(endpoint_url="http://x")) == 2
    assert connection_attempts(ReadTimeoutError(endpoint_url="http://x")) == 3
    assert connection_attempts(_client_error("ThrottlingException")) is None
    assert connection_attempts(None) is None


@pytest.mark.usefixtures("aws")
def test_throttled_calls_are_still_retried_ten_times(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    monkeypatch.setattr(TokenBucket, "acquire", lambda self, amount=1, block=True: True)
    layer = Aws.connect(region=REGION)
    throttled = [Fault("sts", "GetCallerIdentity", "throttle")]
    with faults.install(layer.session, throttled) as inj, pytest.raises(ClientError):
        layer.client("sts").get_caller_identity()
    assert inj.attempts[("sts", "GetCallerIdentity")] == 11  # max_attempts 10 counts retries


class SilentServer:
    """A local endpoint that accepts connections and never answers: every call times out."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.accepted.append(self.sock.accept()[0])

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def test_a_slow_endpoint_is_retried_twice_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    server = SilentServer()
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
    notes: list[str] = []
    layer = Aws.connect(region=REGION, on_retry=notes.append)
    layer.config = layer.config.merge(Config(read_timeout=0.2))
    try:
        with pytest.raises(ReadTimeoutError):
            layer.client("sts").get_caller_identity()
    finally:
        server.close()
    assert len(server.accepted) == 3
    assert [n.split(":")[0] for n in notes] == ["retrying (2 of 3)", "retrying (3 of 3)"]
    assert server.url in notes[0]
