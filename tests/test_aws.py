"""The one AWS layer of the CLI side: lazy clients, one Config, error codes, the boundary."""

from __future__ import annotations

import ast
import concurrent.futures as cf
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdafan.aws import (
    DEFAULT_POOL,
    Aws,
    client_config,
    describe_error,
    error_code,
    error_message,
    is_not_found,
)
from lambdafan.errors import UsageError
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
