"""`lambdafan run --local` end to end: the CLI in this process against moto's server."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from lambda_src import runs, table
from lambda_src.dynamo_store import DynamoStore
from lambda_src.table import table_definition
from lambdafan.config import load_config
from tests.conftest import SCRIPTS, cli, create_table, lambdafan

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


def test_run_local_warns_of_an_import_the_worker_will_not_have(server: str, tmp_path: Path) -> None:
    script = tmp_path / "tags.py"
    script.write_text("import yaml\n\ndef collect(session, region, account):\n    yield {}\n")
    config = write_config(tmp_path, [])
    config.write_text(config.read_text().replace("scripts: []", f"scripts: [{script}]"))
    done = cli("run", "--local", "-c", str(config))
    assert done.returncode == 0, done.stderr  # yaml is installed here
    assert (
        f"warning: {script}:1: imports yaml, which the Worker won't have — add pyyaml to "
        "script_requirements (it works here, not on Lambda)"
    ) in done.stderr


def test_without_fork_run_local_runs_scripts_here_and_says_so(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lambdafan.cli.options.sandbox_supported", lambda: False)
    done = cli("run", "--local", "-c", str(write_config(tmp_path, ["whoami"])))
    assert done.returncode == 0, done.stderr
    assert "scripts run in this process: the sandbox needs fork (Linux, macOS)" in done.stderr
    assert "records: 4" in done.stdout


WIDE_SCRIPT = """
def collect(session, region, account):
    yield {f"field_{n}": f"value-{n}-" + "x" * 40 for n in range(6)}
"""


@pytest.mark.parametrize("in_table", [True, False], ids=["table", "memory"])
def test_left_out_columns_are_named_with_a_hint_that_runs_as_printed(
    server: str, tmp_path: Path, in_table: bool
) -> None:
    # Six 50-character fields are more than a 200-column table holds beside the origin columns.
    if in_table:
        boto3.client("dynamodb", region_name="us-east-1").create_table(
            **table_definition("e2e-results")
        )
    script = tmp_path / "wide.py"
    script.write_text(WIDE_SCRIPT)
    config = write_config(tmp_path, [])
    config.write_text(config.read_text().replace("scripts: []", f"scripts: [{script}]"))

    done = cli("run", "--local", "-c", str(config), "--account", A)

    assert done.returncode == 0, done.stderr
    words = " ".join(done.stdout.split())
    assert "columns left out (terminal 200 wide): " in words
    if not in_table:
        assert "see them with --output FILE (JSON Lines: every field)" in words
        return
    hint = re.search(r"see them with `lambdafan (.+?)`", words)
    assert hint is not None, words
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shown = cli(*shlex.split(hint.group(1)), cwd=elsewhere)
    assert shown.returncode == 0, shown.stderr
    rows = [json.loads(line) for line in shown.stdout.splitlines()]
    assert len(rows) == 2 and all(f"field_{n}" in row for row in rows for n in range(6))


def test_a_pair_that_printed_and_yielded_nothing_is_flagged_in_the_summary(
    server: str, tmp_path: Path
) -> None:
    # Issue 15: a collect that prints its findings reported "0 records", exit 0, and nothing else.
    config = write_config(tmp_path, ["whoami"])
    data = yaml.safe_load(config.read_text())
    for name in ("prints", "prints_progress"):
        data["scripts"].append(str(Path(__file__).parent / "sandbox_scripts" / f"{name}.py"))
    config.write_text(yaml.safe_dump(data))

    done = cli("run", "--local", "-c", str(config))

    assert done.returncode == 0, done.stderr
    flagged = done.stdout.split("printed output and yielded no records in the whole run", 1)[1]
    assert f"prod ({A}) prints us-east-1" in flagged
    assert f"staging ({B}) prints us-east-1" in flagged
    assert "eu-west-1" not in flagged  # it printed nothing there
    assert "whoami" not in flagged
    # It printed in eu-west-1 and found nothing there, but found records elsewhere in the run.
    assert "prints_progress" not in flagged
    # Its laptop habit was named before the run, as validate names it.
    assert "prints.py:6: collect prints but never yields" in done.stderr
    # What it printed is shown too (above the progress bar, where there is one).
    assert f"{A} us-east-1 vol-1" in done.stderr


def test_run_local_without_the_sandbox_warns_that_plain_boto3_uses_your_credentials(
    server: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, ["whoami"])
    done = cli("run", "--local", "--no-sandbox", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert "plain boto3 calls in them" in done.stderr and "use your credentials" in done.stderr
    sandboxed = cli("run", "--local", "-c", str(config))
    assert "use your credentials" not in sandboxed.stderr


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
    # The file name, as `results --script` takes it (and the path as written in the config).
    for named in ("whoami.py", str(SCRIPTS / "whoami.py")):
        by_file = cli("run", "--local", "-c", str(config), "--account", B, "--script", named)
        assert by_file.returncode == 0, by_file.stderr
        assert "whoami (2 records)" in by_file.stdout and "buckets" not in by_file.stdout


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
    assert done.stderr.strip() == (
        "error: lambdafan.yaml: config file not found (name one with -c FILE or "
        "LAMBDAFAN_CONFIG; `lambdafan demo --keep` writes a working example)"
    )


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


# Timing bounds hold on a loaded 2-core machine: nothing here waits for a script that is stuck.
CTRL_C_EXIT_S = 3.0
FOUR = [f"{n:012d}" for n in range(1, 5)]
TEN_REGIONS = [
    *("us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1"),
    *("eu-west-2", "eu-west-3", "eu-central-1", "ap-southeast-1", "ap-northeast-1"),
]


def start_sleepy_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[subprocess.Popen[str], Path, Path]:
    """`lambdafan run --local --no-sandbox` in a subprocess: 4 accounts x 10 regions of
    sleeps.py (one record, then 10 s asleep) on 32 threads. Returns once 32 pairs have handed
    over their record; the other 8 wait in the queue."""
    marks = tmp_path / "marks"
    marks.mkdir()
    monkeypatch.setenv("LAMBDAFAN_TEST_MARKS", str(marks))
    accounts = {"list": [{"id": a, "name": f"acct-{n}"} for n, a in enumerate(FOUR)]}
    config = write_config(tmp_path, ["sleeps"], accounts=accounts, regions=TEN_REGIONS)
    out = tmp_path / "records.jsonl"
    args = ["run", "--local", "--no-sandbox", "-c", str(config), "-o", str(out), "--threads", "32"]
    process = subprocess.Popen(
        [sys.executable, "-m", "lambdafan", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    deadline = time.monotonic() + 60
    while len(list(marks.iterdir())) < 32:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the run did not get going: {process.communicate()}")
        time.sleep(0.02)
    return process, marks, out


def test_ctrl_c_stops_a_local_run_and_keeps_what_it_found(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**table_definition("e2e-results"))
    process, marks, out = start_sleepy_run(tmp_path, monkeypatch)

    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    took = time.monotonic() - sent

    assert process.returncode == 130, stderr
    assert took < CTRL_C_EXIT_S, f"{took:.1f}s"
    assert "Traceback" not in stderr
    assert "stopping: Ctrl-C again to quit at once" in stderr
    assert ": INTERRUPTED" in stdout
    assert "records: 32\n  sleeps: 32" in stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    found = sorted(f"{r['account_id']}-{r['region']}" for r in rows)
    assert found == sorted(mark.name for mark in marks.iterdir()) and len(found) == 32
    store = DynamoStore(client, "e2e-results")
    run = table.latest_run(store)
    assert run is not None
    assert (run["status"], run["records"], run["accounts_done"]) == ("interrupted", 32, 4)
    errors = [e["message"] for e in table.run_errors(store, run["run_id"])]
    assert len(errors) == 40
    assert errors.count("interrupted (Ctrl-C) before it started") == 8  # the queued pairs


def test_a_second_ctrl_c_leaves_at_once(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a table, stopping takes a while (Workers and the run are closed in it).
    boto3.client("dynamodb", region_name="us-east-1").create_table(
        **table_definition("e2e-results")
    )
    process, _, _ = start_sleepy_run(tmp_path, monkeypatch)
    process.send_signal(signal.SIGINT)
    assert process.stderr is not None
    # (after the warning that --no-sandbox runs scripts with your credentials)
    assert any("stopping" in process.stderr.readline() for _ in range(3))

    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    took = time.monotonic() - sent

    assert process.returncode == 130, stderr
    assert took < 1.5, f"{took:.1f}s"
    assert "interrupted: leaving now" in stderr and "Traceback" not in stderr
    assert "INTERRUPTED" not in stdout  # it did not wait to print the summary


def test_ctrl_c_kills_the_sandboxes_of_a_local_run_and_keeps_what_they_found(
    server: str, tmp_path: Path
) -> None:
    # The sandbox sees no LAMBDAFAN_* variable: the script names its folder of marks itself.
    marks = tmp_path / "marks"
    marks.mkdir()
    script = tmp_path / "sleeps_here.py"
    script.write_text(
        "import time\nfrom pathlib import Path\n"
        f"MARKS = Path({str(marks)!r})\n"
        "def collect(session, region, account):\n"
        "    yield {'region': region}\n"
        "    (MARKS / f'{account.id}-{region}').touch()\n"
        "    time.sleep(1.0)\n"
        "    (MARKS / f'survived-{account.id}-{region}').touch()\n"
        "    yield {'late': region}\n"
    )
    accounts = {"list": [{"id": a, "name": f"acct-{n}"} for n, a in enumerate(FOUR[:2])]}
    config = write_config(tmp_path, [], accounts=accounts, regions=TEN_REGIONS[:4])
    config.write_text(config.read_text().replace("scripts: []", f"scripts: [{script}]"))
    process = subprocess.Popen(
        [sys.executable, "-m", "lambdafan", "run", "--local", "-c", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    deadline = time.monotonic() + 60
    while len(list(marks.iterdir())) < 8:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the run did not get going: {process.communicate()}")
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and ": INTERRUPTED" in stdout
    assert "records: 8\n" in stdout
    time.sleep(1.5)  # long enough for a script left running to leave its mark
    assert not [m.name for m in marks.iterdir() if m.name.startswith("survived")]


def test_pair_timeout_ends_a_run_whose_script_never_returns(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, ["whoami", "stuck"])
    out = tmp_path / "records.jsonl"

    began = time.monotonic()
    done = lambdafan("run", "--local", "-c", str(config), "--pair-timeout", "1", "-o", str(out))
    took = time.monotonic() - began

    assert done.returncode == 1, done.stderr
    # A Python start, the run and the 1 s limit: the stuck threads are not waited for.
    assert took < 20, f"{took:.1f}s"
    assert "Traceback" not in done.stderr
    assert "4 error(s)" in done.stdout
    assert "Timeout: ran past the pair time limit (1s); the 1 records found so far were kept" in (
        done.stdout
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["script"] for r in rows) == ["stuck"] * 4 + ["whoami"] * 4


def test_pair_timeout_defaults_to_the_worker_timeout() -> None:
    done = cli("run", "--help")
    assert done.returncode == 0
    words = " ".join(word for word in done.stdout.split() if word != "│")  # however it wraps
    assert "--pair-timeout" in words and "(default: the Worker function's timeout" in words


def test_a_script_raising_a_base_exception_fails_only_its_pair(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, ["whoami", "boom_in_eu"])
    done = cli("run", "--local", "-c", str(config))
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "2 error(s)" in done.stdout and "accounts: 2/2 done\n" in done.stdout
    assert "boom_in_eu eu-west-1: Boom: boom in eu-west-1" in done.stdout
    assert "whoami (4 records)" in done.stdout and "boom_in_eu (4 records)" in done.stdout


def deployed_director(config: Path) -> DynamoStore:
    """What `run --now` needs of a deployed fleet: its table and a Director function (moto
    stores it and never runs it)."""
    session = boto3.Session(region_name="us-east-1")
    settings = load_config(config).to_settings()
    store = create_table(session, settings)
    role = session.client("iam").create_role(RoleName="e2e-director", AssumeRolePolicyDocument="{}")
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as bundle:
        bundle.writestr("handlers.py", "def director(event, context):\n    return {}\n")
    session.client("lambda").create_function(
        FunctionName="e2e-director", Runtime="python3.12", Role=role["Role"]["Arn"],
        Handler="handlers.director", Code={"ZipFile": code.getvalue()},
    )  # fmt: skip
    return store


@pytest.mark.parametrize("wait", ["--wait", "--no-wait"])
def test_run_now_fails_at_once_when_the_endpoint_cannot_run_the_director(
    server: str, tmp_path: Path, wait: str
) -> None:
    config = write_config(tmp_path, ["whoami"])
    store = deployed_director(config)
    started = time.monotonic()
    done = cli("run", "--now", wait, "-c", str(config))
    assert time.monotonic() - started < 9  # well under the 10 s pickup limit, even when loaded
    assert done.returncode == 1
    assert "started run" not in done.stdout and "Traceback" not in done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and " did not start: the endpoint " in error[0]
    assert f"{server} could not run e2e-director: error running docker" in error[0]
    assert f"use `lambdafan -c {config.resolve()} run --now --local`" in error[0]
    assert table.latest_run(store) is None


@pytest.mark.parametrize("wait", ["--wait", "--no-wait"])
def test_run_now_fails_within_the_pickup_limit_when_no_director_creates_the_run(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wait: str
) -> None:
    # An invoke accepted and never run, as a throttled Director's (moto's own says so at once).
    monkeypatch.setattr("lambdafan.remote_run.PICKUP_LIMIT_S", 0.5)
    monkeypatch.setattr("lambdafan.remote_run.start_run", lambda *a, **k: "20261127T130000Z-x1")
    config = write_config(tmp_path, ["whoami"])
    deployed_director(config)
    started = time.monotonic()
    done = cli("run", "--now", wait, "-c", str(config))
    assert time.monotonic() - started < 9  # well under the 10 s pickup limit, even when loaded
    assert done.returncode == 1
    assert "started run" not in done.stdout
    assert (
        "error: run 20261127T130000Z-x1 did not start: e2e-director did not create it within 0.5s: "
        f"the endpoint {server} accepted the invoke but no Director ran; moto stores functions "
        f"without running them: use `lambdafan -c {config.resolve()} run --now --local` to run the "
        "fleet's handlers here"
    ) in " ".join(done.stderr.split())


@pytest.mark.parametrize("wait", ["--wait", "--no-wait"])
def test_run_now_reports_a_run_the_director_created(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wait: str
) -> None:
    config = write_config(tmp_path, ["whoami"])
    store = deployed_director(config)
    run_id = "20261127T130000Z-x2"

    def director(*args: Any, **kwargs: Any) -> str:
        # What the Director does, a little later: create the run item, then complete it.
        def later() -> None:
            time.sleep(0.3)
            now = runs.utcnow()
            runs.start_run(store, run_id, accounts=[], scripts=["whoami"], trigger="manual",
                           now=now, ttl_days=1, worker_timeout_s=900)  # fmt: skip
            runs.complete_run(store, run_id, [], now)

        threading.Thread(target=later, daemon=True).start()
        return run_id

    monkeypatch.setattr("lambdafan.remote_run.start_run", director)
    done = cli("run", "--now", wait, "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert f"started run {run_id}" in done.stdout
    if wait == "--wait":
        assert "accounts: 0/0 done" in done.stdout
    else:
        assert (
            f"follow it with: lambdafan -c {config.resolve()} results --follow --run {run_id}"
        ) in done.stderr


# --- everything is checked before a run item is written ---------------------------------------


def organization(*ou_names: str) -> tuple[list[str], dict[str, str]]:
    """An organization on the moto server: one member account at the root and one in each OU
    named; returns the members (root's first) and each OU's id by name."""
    client = boto3.client("organizations", region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]
    members, ous = [], {}
    for n, name in enumerate(("root", *ou_names)):
        created = client.create_account(AccountName=f"member-{name}", Email=f"m{n}@example.com")
        members.append(created["CreateAccountStatus"]["AccountId"])
        if name != "root":
            ou = client.create_organizational_unit(ParentId=root, Name=name)
            ous[name] = ou["OrganizationalUnit"]["Id"]
            client.move_account(
                AccountId=members[-1], SourceParentId=root, DestinationParentId=ous[name]
            )
    return members, ous


def fleet_table() -> DynamoStore:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**table_definition("e2e-results"))
    return DynamoStore(client, "e2e-results")


def refused_before_any_run(done: Any, store: DynamoStore, message: str) -> None:
    """Exit 2, one error line, and no run item in the table (no `0/0 complete` run that
    `results` and `status` would take for the latest)."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.strip() == f"error: {message}"
    assert table.latest_run(store) is None


def test_run_local_refuses_an_account_outside_the_organization_before_writing_a_run(
    server: str, tmp_path: Path
) -> None:
    store = fleet_table()
    members, _ = organization()
    config = write_config(tmp_path, ["whoami"], accounts={"organization": {"enabled": True}})

    stranger = cli("run", "--local", "-c", str(config), "--account", "999999999999")
    refused_before_any_run(stranger, store, "account 999999999999 is not in this fleet")

    member = cli("run", "--local", "-c", str(config), "--account", members[0])
    assert member.returncode == 0, member.stderr
    assert "accounts: 1/1 done" in member.stdout


def test_an_account_outside_the_fleets_ous_or_excluded_is_refused(
    server: str, tmp_path: Path
) -> None:
    store = fleet_table()
    (at_root, in_prod, in_dev), ous = organization("prod", "dev")
    accounts = {"organization": {"enabled": True, "ous": [ous["prod"]]}, "exclude": [in_dev]}
    config = write_config(tmp_path, ["whoami"], accounts=accounts)
    for outside in (at_root, in_dev):
        done = cli("run", "--local", "-c", str(config), "--account", outside, "-a", in_prod)
        refused_before_any_run(done, store, f"account {outside} is not in this fleet")


def test_run_local_refuses_an_unknown_static_account_or_script_before_writing_a_run(
    server: str, tmp_path: Path
) -> None:
    store = fleet_table()
    config = write_config(tmp_path, ["whoami"])
    account = cli("run", "--local", "-c", str(config), "--account", "999999999999")
    refused_before_any_run(account, store, "account 999999999999 is not in this fleet")
    script = cli("run", "--local", "-c", str(config), "--script", "nope")
    refused_before_any_run(script, store, "unknown script nope (this fleet has: whoami)")


@pytest.mark.parametrize("organization_enabled", [False, True])
def test_run_now_refuses_an_account_outside_the_fleet_before_invoking_the_director(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, organization_enabled: bool
) -> None:
    invoked: list[Any] = []
    monkeypatch.setattr("lambdafan.remote_run.start_run", lambda *a, **k: invoked.append(a))
    if organization_enabled:
        organization()
        config = write_config(tmp_path, ["whoami"], accounts={"organization": {"enabled": True}})
    else:
        config = write_config(tmp_path, ["whoami"])
    store = deployed_director(config)
    done = cli("run", "--now", "--no-wait", "-c", str(config), "--account", "999999999999")
    refused_before_any_run(done, store, "account 999999999999 is not in this fleet")
    assert invoked == []


def test_run_now_leaves_the_account_check_to_the_director_when_organizations_is_refused(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The Director's role reads the organization; the user running `run --now` may not.
    def refused(*args: Any) -> None:
        error = {"Error": {"Code": "AccessDeniedException", "Message": "not you"}}
        raise ClientError(error, "DescribeAccount")  # type: ignore[arg-type]

    invoked: list[Any] = []
    monkeypatch.setattr("lambdafan.cli.run.check_organization_accounts", refused)
    monkeypatch.setattr("lambdafan.remote_run.PICKUP_LIMIT_S", 0.1)
    monkeypatch.setattr(
        "lambdafan.remote_run.start_run", lambda *a, **k: invoked.append(a) or "20261127T1300Z-x"
    )
    config = write_config(tmp_path, ["whoami"], accounts={"organization": {"enabled": True}})
    deployed_director(config)
    done = cli("run", "--now", "--no-wait", "-c", str(config), "--account", "999999999999")
    assert (
        "warning: --account not checked against the organization: AccessDeniedException: not you"
    ) in done.stderr
    assert len(invoked) == 1
    assert done.returncode == 1  # the stand-in Director never creates the run

    local = cli("run", "--local", "-c", str(config), "--account", "999999999999")
    assert local.returncode == 1 and "AccessDeniedException" in local.stderr


# --- every hint runs as printed, from any folder ----------------------------------------------


def ops_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An AWS profile `ops` (moto takes any keys), so that hints must carry --profile."""
    aws_config = tmp_path / "aws-config"
    aws_config.write_text(
        "[profile ops]\nregion = us-east-1\naws_access_key_id = ops\naws_secret_access_key = x\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))


def hinted(stderr: str, before: str) -> list[str]:
    """The command a hint line prints after `before`, as words (what a shell would pass)."""
    [line] = [line for line in stderr.splitlines() if before in line]
    words = shlex.split(line.split(before, 1)[1].strip().strip("`"))
    assert words[0] == "lambdafan"
    return words[1:]


def test_run_now_no_wait_hint_keeps_the_config_and_profile_and_works_from_any_folder(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops_profile(tmp_path, monkeypatch)
    fleet = tmp_path / "fleet dir"
    fleet.mkdir()
    config = write_config(fleet, ["whoami"])
    store = deployed_director(config)
    run_id = "20261127T130000Z-x3"

    def director(*args: Any, **kwargs: Any) -> str:
        now = runs.utcnow()
        runs.start_run(store, run_id, accounts=[], scripts=["whoami"], trigger="manual",
                       now=now, ttl_days=1, worker_timeout_s=900)  # fmt: skip
        runs.complete_run(store, run_id, [], now)
        return run_id

    monkeypatch.setattr("lambdafan.remote_run.start_run", director)
    done = cli("run", "--now", "--no-wait", "--profile", "ops", "-c", "lambdafan.yaml", cwd=fleet)
    assert done.returncode == 0, done.stderr
    words = hinted(done.stderr, "follow it with:")
    assert words == [
        "-c", str(config), "--profile", "ops", "results", "--follow", "--run", run_id
    ]  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    followed = cli(*words, cwd=elsewhere)
    assert followed.returncode == 0, followed.stderr
    bare = cli(*words[4:], cwd=elsewhere)  # what the hint used to say
    assert bare.returncode == 2 and "config file not found" in bare.stderr


def test_run_now_without_a_table_names_a_deploy_that_runs_from_any_folder(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops_profile(tmp_path, monkeypatch)
    config = write_config(tmp_path, ["whoami"])
    done = cli("run", "--now", "--profile", "ops", "-c", "lambdafan.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "error: table e2e-results not found: deploy the fleet first "
        f"(lambdafan -c {config.resolve()} --profile ops deploy)"
    )


def test_run_help_names_each_value_with_a_conventional_metavar() -> None:
    from lambdafan.cli.options import DEFAULT_ROWS

    done = cli("run", "--help")
    assert done.returncode == 0
    lines = {line.split()[1]: line for line in done.stdout.splitlines() if "│ --" in line}
    expected = {
        "--account": "-a ACCOUNT_ID",
        "--script": "-s SCRIPT",
        "--output": "-o FILE",
        "--timeout": "SECONDS",
        "--pair-timeout": "SECONDS",
        "--threads": "N",
        "--limit": "N",
    }
    for option, metavar in expected.items():
        assert " ".join(lines[option].split()[1:]).startswith(f"{option} {metavar} "), option
    assert not re.search(r"<[a-z]", "".join(lines.values())), "a <type> placeholder is left"
    assert f"[default: {DEFAULT_ROWS}]" in lines["--limit"]
