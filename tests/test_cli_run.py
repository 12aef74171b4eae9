"""`lambdafan run --local` end to end: the CLI in this process against moto's server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import yaml

from lambda_src import table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.table import table_definition
from tests.conftest import SCRIPTS, cli

A, B = "111111111111", "022222222222"


def write_config(folder: Path, scripts: list[str], **extra: Any) -> Path:
    config = {
        "fleet": "e2e",
        "home_region": "us-east-1",
        "accounts": {"list": [{"id": A, "name": "prod"}, {"id": B, "name": "staging"}]},
        "regions": ["us-east-1", "eu-west-1"],
        "member_role": {"name": "OrganizationAccountAccessRole"},
        "scripts": [str(SCRIPTS / f"{name}.py") for name in scripts],
        **extra,
    }
    path = folder / "lambdafan.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_run_local_prints_tables_and_writes_json_lines(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, ["whoami"])
    out = tmp_path / "records.jsonl"

    done = cli("run", "--local", "-c", str(config), "--output", str(out))

    assert done.returncode == 0, done.stderr
    assert "whoami (4 records)" in done.stdout
    assert "prod" in done.stdout and A in done.stdout and "eu-west-1" in done.stdout
    assert "accounts: 2/2 done" in done.stdout
    assert "not found: results are kept in memory only" in done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((r["account_id"], r["region"], r["caller_account"]) for r in rows) == [
        (B, "eu-west-1", B),
        (B, "us-east-1", B),
        (A, "eu-west-1", A),
        (A, "us-east-1", A),
    ]
    assert all(r["script"] == "whoami" and r["account_name"] in {"prod", "staging"} for r in rows)


def test_run_local_stores_records_when_the_table_exists(server: str, tmp_path: Path) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**table_definition("e2e-results"))
    config = write_config(tmp_path, ["whoami"])

    done = cli("run", "--local", "-c", str(config))

    assert done.returncode == 0, done.stderr
    store = DynamoStore(client, "e2e-results")
    run = table.latest_run(store)
    assert run is not None and run["status"] == "complete" and run["records"] == 4
    assert len(list(table.run_records(store, run["run_id"]))) == 4


def test_run_local_exits_1_when_a_pair_fails(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, ["fails_in_eu"])
    done = cli("run", "--local", "-c", str(config))
    assert done.returncode == 1
    assert "2 error(s)" in done.stdout
    assert "RuntimeError: boom in eu-west-1" in done.stdout
    assert "fails_in_eu (6 records)" in done.stdout


def test_run_local_restricts_to_named_accounts_and_scripts(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, ["whoami", "buckets"])
    done = cli("run", "--local", "-c", str(config), "--account", B, "--script", "whoami")
    assert done.returncode == 0, done.stderr
    assert "accounts: 1/1 done" in done.stdout
    assert "whoami (2 records)" in done.stdout and A not in done.stdout


def test_bad_config_is_one_line_and_exit_2(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, ["whoami"], regions=["us-east-9"])
    done = cli("run", "--local", "-c", str(config))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "regions[0]: 'us-east-9' is not an AWS region" in lines[0]


def test_unknown_script_name_and_account_are_usage_errors(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, ["whoami"])
    unknown_script = cli("run", "--local", "-c", str(config), "--script", "nope")
    assert unknown_script.returncode == 2
    assert "unknown script nope (this fleet has: whoami)" in unknown_script.stderr
    unknown_account = cli("run", "--local", "-c", str(config), "--account", "999999999999")
    assert unknown_account.returncode == 2
    assert "account 999999999999 is not in this fleet" in unknown_account.stderr
    assert "Traceback" not in unknown_script.stderr + unknown_account.stderr


def test_missing_config_file(server: str, tmp_path: Path) -> None:
    done = cli("run", "--local", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: lambdafan.yaml: config file not found"


def test_record_and_error_text_is_never_read_as_markup(server: str, tmp_path: Path) -> None:
    script = tmp_path / "brackets.py"
    script.write_text(
        "def collect(session, region, account):\n"
        "    yield {'name': 'web [/prod] [red]x'}\n"
        "    raise ValueError('bad [/x]')\n"
    )
    config = write_config(tmp_path, [])
    data = yaml.safe_load(config.read_text())
    data["scripts"] = [str(script)]
    config.write_text(yaml.safe_dump(data))

    done = cli("run", "--local", "-c", str(config))

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "web [/prod] [red]x" in done.stdout
    assert "ValueError: bad [/x]" in done.stdout


def test_unwritable_output_fails_before_the_run(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, ["whoami"])
    done = cli("run", "--local", "-c", str(config), "-o", str(tmp_path / "no" / "x.jsonl"))
    assert done.returncode == 2
    assert "--output" in done.stderr and "Traceback" not in done.stderr
    assert "accounts:" not in done.stdout


def test_run_needs_now_or_local(server: str, tmp_path: Path) -> None:
    done = cli("run", "-c", str(write_config(tmp_path, ["whoami"])))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: say where to run: --now (the deployed fleet) or --local (here)"
    )
    assert done.stdout == ""
