"""Shared fixtures: fake AWS credentials, an in-process moto, the results table, settings."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import traceback
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws
from moto.core.botocore_stubber import BotocoreStubber

from lambda_src.dynamo_store import DynamoStore
from lambda_src.scripts import Script, load_script
from lambda_src.settings import AccountRef, FleetSettings, ScriptRef
from lambda_src.table import table_definition
from lambdafan.local_cloud.moto_server import MOTO_MAIN

SCRIPTS = Path(__file__).parent / "scripts"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach real AWS or read the developer's profile."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "MOTO_ACCOUNT_ID", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    # Each new (account, region) EC2 backend loads ~100 default AMIs (~70 ms): tests that need
    # an image say so themselves.
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


# In-process moto's DynamoDB is not thread-safe: Query iterates dicts that concurrent writes
# change ("dictionary changed size during iteration"), and an `ADD` update is a read-modify-write,
# so concurrent ones lose increments. DynamoDB applies each request atomically; so does this lock.
MOTO_DYNAMODB_LOCK = threading.RLock()


@pytest.fixture(autouse=True, scope="session")
def serial_moto_dynamodb() -> Iterator[None]:
    """Every in-process moto (`aws`, or any `mock_aws()`) handles DynamoDB requests one at a time.

    moto answers in-process requests from one `before-send` handler, a `BotocoreStubber`; its
    event name is `before-send.<service>.<Operation>`. Other services stay concurrent, so a
    script's slow call in one thread never waits for another thread's table write.
    """
    original = BotocoreStubber.__call__

    def serialised(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        if not event_name.startswith("before-send.dynamodb."):
            return original(self, event_name, request, **kwargs)
        with MOTO_DYNAMODB_LOCK:
            return original(self, event_name, request, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BotocoreStubber, "__call__", serialised)
        yield


@pytest.fixture
def aws() -> Iterator[Any]:
    """A boto3 Session talking to in-process moto."""
    with mock_aws():
        yield boto3.Session(region_name=REGION)


def assumed(session: Any, account_id: str, role: str = "setup") -> Any:
    """A plain boto3 Session inside another (moto) account, to create resources only it has."""
    creds = session.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{role}", RoleSessionName="setup"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


def write_script(folder: Path, name: str, source: str) -> Path:
    """A script file in `folder`, its source dedented."""
    path = folder / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def deployable_config(folder: Path, fleet: str, **changes: Any) -> Path:
    """`folder/lambdafan.yaml` for a one-account fleet running a copy of tests/scripts/whoami.py."""
    script = folder / "whoami.py"
    if not script.exists():
        shutil.copy(SCRIPTS / "whoami.py", script)
    config = {
        "fleet": fleet,
        "home_region": REGION,
        "schedule": "rate(1 day)",
        "accounts": {"list": ["111111111111"]},
        "regions": [REGION],
        "scripts": ["ec2_instances", "whoami.py"],
        "functions": {"worker": {"memory": 1024}},
        **changes,
    }
    path = folder / "lambdafan.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def make_settings(
    fleet: str = "test",
    accounts: tuple[str, ...] = ("111111111111", "222222222222"),
    regions: tuple[str, ...] | None = ("us-east-1", "eu-west-1"),
    scripts: tuple[str, ...] = ("whoami",),
    **overrides: Any,
) -> FleetSettings:
    return FleetSettings(
        fleet=fleet,
        home_region=REGION,
        scripts=tuple(ScriptRef(name, str(SCRIPTS / f"{name}.py")) for name in scripts),
        accounts=tuple(AccountRef(a, f"acct-{a[:3]}") for a in accounts),
        regions=regions,
        member_role="OrganizationAccountAccessRole",
        **overrides,
    )


def load_scripts(settings: FleetSettings) -> list[Script]:
    return [load_script(Path(ref.path), ref.name) for ref in settings.scripts]


def create_table(session: Any, settings: FleetSettings) -> DynamoStore:
    client = session.client("dynamodb")
    client.create_table(**table_definition(settings.table_name))
    return DynamoStore(client, settings.table_name, sleep=lambda _: None)


def all_items(session: Any, table: str) -> list[dict[str, Any]]:
    """Every item in the table (a Scan: for test assertions only, never in product code)."""
    client = session.client("dynamodb")
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("scan").paginate(TableName=table):
        items.extend(page["Items"])
    return items


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


RECORDING = Path(os.environ.get("TMPDIR", "/tmp")) / f"lambdafan-moto-recording-{os.getpid()}"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server on 127.0.0.1 for CLI end-to-end tests; yields its endpoint URL."""
    port = _free_port()
    process = subprocess.Popen(
        # The local cloud's moto server: DynamoDB requests one at a time, as DynamoDB applies them.
        [sys.executable, "-m", MOTO_MAIN, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "MOTO_RECORDER_FILEPATH": str(RECORDING),
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        },
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def server(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A freshly reset moto server, with AWS_ENDPOINT_URL pointing at it for this test."""
    request = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    yield moto_server


class Recorder:
    """moto's request recorder: which AWS operations a command made."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def _post(self, action: str) -> None:
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/recorder/{action}", method="POST"
        )
        urllib.request.urlopen(request, timeout=10).close()

    def start(self) -> None:
        self._post("reset-recording")
        self._post("start-recording")

    def stop(self) -> list[str]:
        """Stop; return the operations recorded, as `service:Operation` (Lambda: method+path)."""
        self._post("stop-recording")
        lines = RECORDING.read_text().splitlines() if RECORDING.exists() else []
        return [_operation(json.loads(line)) for line in lines if line.strip()]


def _operation(entry: dict[str, Any]) -> str:
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    scope = headers.get("authorization", "").split("Credential=")[-1].split("/")
    service = scope[3] if len(scope) > 3 else "?"
    target = headers.get("x-amz-target")
    if target:
        return f"{service}:{target.split('.')[-1]}"
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    action = urllib.parse.parse_qs(body).get("Action") if "Action=" in body else None
    if action:
        return f"{service}:{action[0]}"
    path = urllib.parse.urlparse(entry["url"]).path
    return f"{service}:{entry['method']} {path}"


READ_PREFIXES = ("Describe", "Get", "List", "GET ")


def mutating(operations: list[str]) -> list[str]:
    """The operations that change something: everything but Describe*, Get*, List* and GETs."""
    return [op for op in operations if not op.split(":", 1)[1].startswith(READ_PREFIXES)]


@pytest.fixture
def recorder(server: str) -> Recorder:
    return Recorder(server)


def lambdafan(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, in a subprocess, with this test's environment."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "lambdafan", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


CLI_WIDTH = 200  # what the subprocess runs get from COLUMNS: tables render without wrapping
CLI_ENV = {"COLUMNS": str(CLI_WIDTH), "NO_COLOR": "1"}


@dataclass(frozen=True)
class CliResult:
    """What `cli` returns: the fields of subprocess.CompletedProcess that tests read."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, cwd: Path | None = None) -> CliResult:
    """Run the CLI in this process (Typer's CliRunner), with this test's os.environ.

    Like `lambdafan(...)` but without a Python start: an exception the CLI did not turn into an
    exit code is a traceback in `.stderr` and exit code 1, as a user would see it.
    """
    from typer.testing import CliRunner

    from lambdafan.cli import app
    from lambdafan.render import console as consoles

    # The consoles are made at import time, so CLI_ENV reaches only those made during the call
    # (Typer's). Render as in a subprocess with a pipe: 200 columns (rich's width setter) and no
    # colour codes (set at import if stdout was a terminal, `pytest -s`); then put back theirs.
    saved = [(c, c._width, c._color_system) for c in (consoles.console, consoles.err_console)]
    previous = Path.cwd()
    try:
        for console, _, _ in saved:
            console.width = CLI_WIDTH
            console._color_system = None
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner().invoke(app, list(args), env=CLI_ENV)
    finally:
        os.chdir(previous)
        for console, width, color_system in saved:
            console._width, console._color_system = width, color_system
    if result.exception is None or isinstance(result.exception, SystemExit):
        return CliResult(args, result.exit_code, result.stdout, result.stderr)
    trace = "".join(traceback.format_exception(result.exception))
    return CliResult(args, 1, result.stdout, result.stderr + trace)
