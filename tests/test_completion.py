"""Shell completion: `--script`, `--account`, `--run` and `--against` of every command complete
from the config and the results table, through click's completion protocol, fast and silently."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lambda_src import runs
from lambda_src.dynamo_store import DynamoStore
from lambda_src.table import table_definition
from lambdafan.cli import app
from lambdafan.config import load_config
from tests.conftest import deployable_config

IN_CONFIG = ("111111111111", "222222222222")
ONLY_IN_TABLE = "333333333333"


def complete(*words: str, cwd: Path | None = None) -> list[str]:
    """What bash would offer after `lambdafan WORDS` (the last word is the one being typed)."""
    line = ["lambdafan", *words]
    env = {
        "_LAMBDAFAN_COMPLETE": "complete_bash",
        "COMP_WORDS": " ".join(line),
        "COMP_CWORD": str(len(line) - 1),
    }
    done = CliRunner().invoke(app, [], env=env, prog_name="lambdafan")
    assert done.exit_code == 0, done.output
    assert done.stderr == "", done.stderr
    return done.stdout.split()


@pytest.fixture
def fleet(aws: Any, tmp_path: Path) -> tuple[Path, list[str]]:
    """A config with two listed accounts, and its table holding two runs (newest last); the
    newest covered an account that is not in the config's list."""
    config = deployable_config(tmp_path, "comp", accounts={"list": list(IN_CONFIG)})
    settings = load_config(config).to_settings()
    client = aws.client("dynamodb")
    client.create_table(**table_definition(settings.table_name))
    store = DynamoStore(client, settings.table_name)
    ids = ["20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb"]
    for day, run_id in enumerate(ids, start=1):
        runs.start_run(
            store,
            run_id,
            accounts=[*IN_CONFIG, ONLY_IN_TABLE],
            scripts=["whoami"],
            trigger="test",
            now=datetime(2026, 1, day, tzinfo=timezone.utc),
            ttl_days=1,
            worker_timeout_s=900,
        )
    runs.finish_account(
        store,
        ids[-1],
        ONLY_IN_TABLE,
        "",
        records_by_script={"whoami": 1},
        errors=0,
        failed=False,
        attempt="a1",
        now=datetime(2026, 1, 2, tzinfo=timezone.utc),
        ttl_days=1,
    )
    return config, ids


def test_scripts_complete_from_the_config_for_every_command(fleet: tuple[Path, list[str]]) -> None:
    config, _ = fleet
    assert complete("results", "-c", str(config), "--script", "") == ["ec2_instances", "whoami"]
    assert complete("run", "-c", str(config), "-s", "wh") == ["whoami"]
    # The config given before the command counts too.
    assert complete("-c", str(config), "results", "-s", "ec") == ["ec2_instances"]


def test_accounts_complete_from_the_config_and_the_latest_run(
    fleet: tuple[Path, list[str]],
) -> None:
    config, _ = fleet
    offered = complete("results", "-c", str(config), "--account", "")
    assert offered == [*IN_CONFIG, ONLY_IN_TABLE]
    assert complete("script", "test", "whoami", "-c", str(config), "-a", "2") == ["222222222222"]


def test_run_ids_complete_newest_first(fleet: tuple[Path, list[str]]) -> None:
    config, ids = fleet
    assert complete("results", "-c", str(config), "--run", "") == ids[::-1]
    assert complete("results", "-c", str(config), "--diff", "--against", "20260101") == [ids[0]]
    assert complete("notify", "-c", str(config), "--run", "x") == []


def test_without_a_config_nothing_is_offered_silently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert complete("results", "--script", "") == []
    assert complete("results", "--run", "") == []


def test_an_unreachable_aws_offers_no_runs_fast_but_still_the_config(
    fleet: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    config, _ = fleet
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")

    started = time.monotonic()
    assert complete("results", "-c", str(config), "--run", "") == []
    assert complete("results", "-c", str(config), "-a", "") == list(IN_CONFIG)
    # ~0.7 s alone; the bound is loose for a loaded machine, yet far under botocore's retries.
    assert time.monotonic() - started < 10


def test_commands_and_options_still_complete(fleet: tuple[Path, list[str]]) -> None:
    assert "results" in complete("res")
    assert "--against" in complete("results", "--ag")


def test_install_completion_is_offered() -> None:
    done = CliRunner().invoke(app, ["--help"], prog_name="lambdafan", env={"COLUMNS": "200"})
    assert "--install-completion" in done.stdout


def test_install_completion_installs_the_bash_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    # Name the shell rather than detect the one running the tests (read when the app is built).
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")
    done = CliRunner().invoke(app, ["--install-completion", "bash"], prog_name="lambdafan")

    assert done.exit_code == 0, done.output
    script = (tmp_path / ".bash_completions" / "lambdafan.sh").read_text()
    assert "_LAMBDAFAN_COMPLETE=complete_bash" in script
    assert ".bash_completions/lambdafan.sh" in (tmp_path / ".bashrc").read_text()
