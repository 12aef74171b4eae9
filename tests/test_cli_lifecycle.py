"""A user's day as subprocesses against moto's server: deploy, run, read, inspect, destroy."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import boto3
import yaml

from lambdafan.config import load_config
from lambdafan.deploy.bundle import build_bundle
from tests.conftest import SCRIPTS, assumed, lambdafan

A, B = "111111111111", "022222222222"


# A process per command, as a user runs them: nothing carries over in memory between commands,
# and the bundle built in another process (another hash seed) must have this process's bytes.
def test_deploy_run_results_runs_status_destroy(server: str, tmp_path: Path) -> None:
    shutil.copy(SCRIPTS / "buckets.py", tmp_path / "buckets.py")
    for account, bucket in ((A, "alpha-logs"), (B, "beta-logs")):
        assumed(boto3.Session(), account).client("s3").create_bucket(Bucket=bucket)
    config = tmp_path / "lambdafan.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "fleet": "day",
                "home_region": "us-east-1",
                "accounts": {"list": [{"id": A, "name": "prod"}, {"id": B, "name": "dev"}]},
                "regions": ["us-east-1"],
                "member_role": {"name": "OrganizationAccountAccessRole"},
                "scripts": ["buckets.py"],
            }
        )
    )
    c = ("-c", str(config))

    deployed = lambdafan("deploy", *c)
    assert deployed.returncode == 0, deployed.stderr
    worker = boto3.client("lambda", region_name="us-east-1").get_function(FunctionName="day-worker")
    bundle = build_bundle(load_config(config).to_settings(), include_scripts=True)
    assert worker["Configuration"]["CodeSha256"] == bundle.sha256

    produced = tmp_path / "produced.jsonl"
    ran = lambdafan("run", "--now", "--local", *c, "--output", str(produced))
    assert ran.returncode == 0, ran.stderr
    assert "accounts: 2/2 done" in ran.stdout
    expected = [json.loads(line) for line in produced.read_text().splitlines()]
    assert sorted(r["bucket"] for r in expected) == ["alpha-logs", "beta-logs"]
    mine = [r for r in expected if r["account_id"] == B]

    as_table = lambdafan("results", *c, "--account", B)
    assert as_table.returncode == 0, as_table.stderr
    assert "beta-logs" in as_table.stdout and "alpha-logs" not in as_table.stdout

    as_json = lambdafan("results", *c, "--account", B, "--format", "json")
    assert json.loads(as_json.stdout) == mine
    as_jsonl = lambdafan("results", *c, "--account", B, "--format", "jsonl")
    assert [json.loads(line) for line in as_jsonl.stdout.splitlines()] == mine

    as_csv = lambdafan("results", *c, "--account", B, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["account_id"], r["account_name"], r["bucket"]) for r in rows] == [
        (B, "dev", "beta-logs")
    ]
    assert rows[0]["created"] == mine[0]["created"]

    runs = lambdafan("runs", *c)
    assert runs.returncode == 0, runs.stderr
    assert "2/2" in runs.stdout and "complete" in runs.stdout

    status = lambdafan("status", *c)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "day-worker" in status.stdout

    destroyed = lambdafan("destroy", *c, "--yes", "--delete-data")
    assert destroyed.returncode == 0, destroyed.stderr
    gone = lambdafan("results", *c)
    assert gone.returncode == 1
    assert "not found" in gone.stderr and "Traceback" not in gone.stderr
