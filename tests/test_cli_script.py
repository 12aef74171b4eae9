"""`lambdafan script new | test | list` end to end: the CLI in this process, `test` against moto's
server."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from lambda_src.scripts import builtin_scripts
from lambdafan.cli.options import DEFAULT_ROWS
from tests import conftest
from tests.conftest import cli, write_script

MEMBER = "111111111111"
ROLE = "OrganizationAccountAccessRole"

WHOAMI = """\
\"\"\"Which account the session is really in.\"\"\"


def collect(session, region, account):
    identity = session.client("sts", region_name=region).get_caller_identity()
    yield {"caller": identity["Account"], "marker": "hello-record", "seen_region": region}
"""


def write_config(folder: Path, scripts: list[str], **extra: Any) -> Path:
    config = {
        "fleet": "cli-script",
        "home_region": "us-east-1",
        "accounts": {"list": [{"id": MEMBER, "name": "prod"}]},
        "member_role": {"name": ROLE},
        "scripts": scripts,
        **extra,
    }
    path = folder / "fleet.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


# --- new -------------------------------------------------------------------------------------


def hinted(stdout: str) -> list[list[str]]:
    """The commands a `next:` list prints, as argument lists (without `lambdafan`)."""
    lines = [line.strip() for line in stdout.splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("lambdafan ")]


def test_new_writes_a_starter_and_says_what_to_do_next(tmp_path: Path) -> None:
    done = cli("script", "new", "inventory", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    path = tmp_path / "inventory.py"
    assert 'SCOPE = "region"' in path.read_text()
    assert str(path) in done.stdout
    assert f"lambdafan script test {path} --no-assume --region us-east-1" in done.stdout
    assert f"scripts:` of your fleet's config (lambdafan.yaml):  - {path}" in done.stdout


def test_new_hints_without_a_config_run_as_printed_from_elsewhere(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    created = cli("script", "new", "mine", "--dir", "scripts")
    assert created.returncode == 0, created.stderr
    (command,) = hinted(created.stdout)

    monkeypatch.chdir(tmp_path / "elsewhere")
    done = cli(*command)

    assert done.returncode == 0, done.stderr
    assert "0 records from mine in 123456789012 / us-east-1" in done.stdout


def test_new_hint_runs_with_no_session_region_anywhere(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.chdir(tmp_path)
    created = cli("script", "new", "mine")
    (command,) = hinted(created.stdout)
    assert command[-2:] == ["--region", "us-east-1"]

    done = cli(*command)  # the region the script runs in is the session's too

    assert done.returncode == 0, done.stderr
    assert "0 records from mine in 123456789012 / us-east-1" in done.stdout


def test_new_hints_with_a_config_run_as_printed_from_elsewhere(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    config = write_config(tmp_path, ["ec2_instances"])
    monkeypatch.chdir(tmp_path)
    created = cli("-c", "fleet.yaml", "script", "new", "users", "--scope", "account", "--dir", "s")
    assert created.returncode == 0, created.stderr
    assert f"add it to `scripts:` in {config}:  - s/users.py" in created.stdout
    own, member, validate = hinted(created.stdout)
    assert own[:2] == member[:2] == validate[:2] == ["-c", str(config)]
    config.write_text(
        config.read_text().replace("- ec2_instances", "- ec2_instances\n- s/users.py")
    )

    monkeypatch.chdir(tmp_path / "elsewhere")
    mine, theirs, checked = cli(*own), cli(*member), cli(*validate)

    assert mine.returncode == 0, mine.stderr
    assert "0 records from users in 123456789012 / global" in mine.stdout
    assert theirs.returncode == 0, theirs.stderr
    assert f"0 records from users in {MEMBER} / global" in theirs.stdout
    assert checked.returncode == 0, checked.stderr
    assert "script users (account)" in checked.stdout


def test_new_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    assert cli("script", "new", "inv", cwd=tmp_path).returncode == 0
    (tmp_path / "inv.py").write_text("# edited\n")

    refused = cli("script", "new", "inv", cwd=tmp_path)
    assert refused.returncode == 2
    assert "already exists (use --force" in one_error_line(refused.stderr)
    assert (tmp_path / "inv.py").read_text() == "# edited\n"

    forced = cli("script", "new", "inv", "--force", "--scope", "account", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert 'SCOPE = "account"' in (tmp_path / "inv.py").read_text()


def test_new_rejects_a_bad_name_and_honours_dir(tmp_path: Path) -> None:
    bad = cli("script", "new", "my script!", cwd=tmp_path)
    assert bad.returncode == 2
    assert "not a valid script name" in one_error_line(bad.stderr)
    assert list(tmp_path.iterdir()) == []

    placed = cli("script", "new", "users", "--scope", "account", "--dir", "scripts", cwd=tmp_path)
    assert placed.returncode == 0, placed.stderr
    assert (tmp_path / "scripts" / "users.py").is_file()


# --- test ------------------------------------------------------------------------------------


def test_test_prints_the_records_of_the_assumed_account(server: str, tmp_path: Path) -> None:
    write_script(tmp_path, "whoami.py", WHOAMI)

    done = cli(
        "script", "test", "whoami.py", "--account", MEMBER, "--region", "eu-west-1",
        "--role", ROLE, cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "whoami (1 record)" in done.stdout
    assert "hello-record" in done.stdout and "eu-west-1" in done.stdout
    assert f"1 record from whoami in {MEMBER} / eu-west-1 in " in done.stdout
    assert done.stderr == ""


@pytest.mark.parametrize("output_format", ["json", "jsonl"])
def test_test_json_and_the_role_from_the_config(
    server: str, tmp_path: Path, output_format: str
) -> None:
    write_script(tmp_path, "whoami.py", WHOAMI)
    config = write_config(tmp_path, ["whoami.py"])

    done = cli(
        "script", "test", "whoami.py", "-a", MEMBER, "--format", output_format,
        "-c", str(config), cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    if output_format == "json":  # one JSON document: an array of the records
        rows = json.loads(done.stdout)
    else:
        rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert rows == [
        {
            "account_id": MEMBER,
            "account_name": "prod",
            "region": "us-east-1",
            "script": "whoami",
            "caller": MEMBER,
            "marker": "hello-record",
            "seen_region": "us-east-1",
        }
    ]
    assert "1 record from whoami" in done.stderr


def test_test_no_assume_uses_your_credentials_and_warns(server: str, tmp_path: Path) -> None:
    write_script(tmp_path, "whoami.py", WHOAMI)

    done = cli(
        "script", "test", "whoami.py", "-a", MEMBER, "--no-assume", "--format", "jsonl",
        cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["account_id"] == MEMBER and row["caller"] != MEMBER
    assert f"not {MEMBER}" in done.stderr and "warning:" in done.stderr


def test_test_no_assume_without_account_labels_the_callers_account(
    server: str, tmp_path: Path
) -> None:
    write_script(tmp_path, "whoami.py", WHOAMI)
    config = write_config(tmp_path, ["whoami.py"], accounts={"list": [
        {"id": MEMBER, "name": "prod"}, {"id": "123456789012", "name": "mine"}
    ]})  # fmt: skip

    done = cli(
        "script", "test", "whoami.py", "--no-assume", "--format", "jsonl", "-c", str(config),
        cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["account_id"] == row["caller"] == "123456789012"
    assert row["account_name"] == "mine"  # named from the config, as the Director names it
    assert "warning" not in done.stderr


def test_test_assuming_needs_an_account(server: str, tmp_path: Path) -> None:
    write_script(tmp_path, "whoami.py", WHOAMI)

    done = cli("script", "test", "whoami.py", "--role", ROLE, cwd=tmp_path)

    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "--account ACCOUNT_ID" in line and "--no-assume" in line


def test_test_of_the_starter_runs_clean(server: str, tmp_path: Path) -> None:
    assert cli("script", "new", "users", "--scope", "account", cwd=tmp_path).returncode == 0

    done = cli("script", "test", "users.py", "-a", MEMBER, "--role", ROLE, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert f"0 records from users in {MEMBER} / global" in done.stdout


def test_test_a_raising_script_exits_1_with_file_and_line(server: str, tmp_path: Path) -> None:
    write_script(
        tmp_path,
        "boom.py",
        """\
        def collect(session, region, account):
            yield {"n": 1}
            raise RuntimeError("it broke")
        """,
    )

    done = cli("script", "test", "boom.py", "-a", MEMBER, "--role", ROLE, cwd=tmp_path)

    assert done.returncode == 1
    assert one_error_line(done.stderr) == "error: boom.py:3: RuntimeError: it broke"
    assert "1 record from boom" in done.stdout and "before it failed" in done.stdout
    assert "Traceback" not in done.stderr

    # --traceback: the whole traceback too, above the same one line.
    shown = cli(
        "script", "test", "boom.py", "-a", MEMBER, "--role", ROLE, "--traceback", cwd=tmp_path
    )
    assert shown.returncode == 1
    lines = shown.stderr.strip().splitlines()
    assert lines[0].startswith("Traceback (most recent call last):")
    assert any('boom.py", line 3, in collect' in line for line in lines)
    assert not any("lambda_src" in line for line in lines)  # only the script's own frames
    assert lines[-1] == "error: boom.py:3: RuntimeError: it broke"


def test_test_of_a_script_importing_a_module_beside_it_says_it_is_not_deployed(
    server: str, tmp_path: Path
) -> None:
    # Issue 15: it said "install it here", which would not help.
    (tmp_path / "awshelpers.py").write_text("def name():\n    return 'x'\n")
    write_script(
        tmp_path,
        "uses_helper.py",
        """\
        import awshelpers


        def collect(session, region, account):
            yield {"name": awshelpers.name()}
        """,
    )

    done = cli("script", "test", "uses_helper.py", "--no-assume", cwd=tmp_path)

    assert done.returncode == 1
    assert (
        "only the script file itself is deployed, not the awshelpers module beside it"
        in done.stderr
    )
    assert "install it here" not in done.stderr


def test_test_without_the_sandbox_warns_that_plain_boto3_is_your_account(
    server: str, tmp_path: Path
) -> None:
    write_script(tmp_path, "whoami.py", WHOAMI)
    args = ("script", "test", "whoami.py", "-a", MEMBER, "--role", ROLE)
    done = cli(*args, "--no-sandbox", "--format", "jsonl", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"use your credentials, not {MEMBER}'s" in done.stderr
    assert "use your credentials" not in cli(*args, cwd=tmp_path).stderr


def test_test_a_broken_script_exits_2(server: str, tmp_path: Path) -> None:
    write_script(tmp_path, "broken.py", "def collect(session, region, account)\n    pass\n")

    done = cli("script", "test", "broken.py", "-a", MEMBER, "--role", ROLE, cwd=tmp_path)

    assert done.returncode == 2
    assert "broken.py:1: syntax error" in one_error_line(done.stderr)
    assert done.stdout == ""


def test_test_warns_about_the_configs_other_scripts_instead_of_refusing(
    server: str, tmp_path: Path
) -> None:
    # Issue 15: a script mid-port in the config stopped every other script from being tried.
    write_script(tmp_path, "whoami.py", WHOAMI)
    write_script(tmp_path, "half_ported.py", "def collect(session, region, account)\n")
    config = write_config(tmp_path, ["whoami.py", "half_ported.py", "missing.py"])

    done = cli(
        "script", "test", "whoami.py", "-a", MEMBER, "--format", "jsonl", "-c", str(config),
        cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    [row] = [json.loads(line) for line in done.stdout.splitlines()]
    assert row["caller"] == MEMBER and row["account_name"] == "prod"  # the config's name
    assert "the config's scripts have problems" in done.stderr
    assert "half_ported.py:1: syntax error" in done.stderr
    assert "missing.py" in done.stderr


def test_test_still_refuses_a_config_broken_elsewhere(server: str, tmp_path: Path) -> None:
    write_script(tmp_path, "whoami.py", WHOAMI)
    config = write_config(tmp_path, ["whoami.py"], home_region="mars-1")

    done = cli("script", "test", "whoami.py", "-a", MEMBER, "-c", str(config), cwd=tmp_path)

    assert done.returncode == 2
    assert "home_region" in done.stderr and "--role NAME" in done.stderr
    assert done.stdout == ""


def test_test_needs_a_role_a_config_or_no_assume(server: str, tmp_path: Path) -> None:
    write_script(tmp_path, "whoami.py", WHOAMI)

    done = cli("script", "test", "whoami.py", "-a", MEMBER, cwd=tmp_path)

    assert done.returncode == 2
    line = one_error_line(done.stderr)
    assert "--role NAME" in line and "--no-assume" in line


def test_test_rejects_a_bad_account_id(tmp_path: Path) -> None:
    done = cli("script", "test", "x.py", "-a", "12345", "--no-assume", cwd=tmp_path)
    assert done.returncode == 2
    assert "not a 12-digit account id" in one_error_line(done.stderr)


def test_help_names_every_value_by_its_kind() -> None:
    test = cli("script", "test", "--help").stdout
    for option, metavar in [
        ("--account", "ACCOUNT_ID"), ("--region", "REGION"), ("--role", "NAME"),
        ("--limit", "N"), ("--format", "FORMAT"),
    ]:  # fmt: skip
        assert re.search(rf"{option}\s.*\s{metavar}\s", test), (option, test)
    assert f"[default: {DEFAULT_ROWS}]" in test and "table for people; json: one JSON" in test
    assert re.search(r"Usage: .*script test \[OPTIONS\] FILE *$", test, re.MULTILINE)
    new = cli("script", "new", "--help").stdout
    assert re.search(r"--dir\s+DIR\s", new) and "NAME" in new


# --- list ------------------------------------------------------------------------------------


def row_of(stdout: str, name: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(f"{name} "))


def test_list_shows_the_builtins_with_their_scope(tmp_path: Path) -> None:
    done = cli("script", "list", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "region" in row_of(done.stdout, "ec2_instances")
    assert "built-in" in row_of(done.stdout, "ec2_instances")
    assert "account" in row_of(done.stdout, "s3_buckets")
    assert "Every S3 bucket in the account" in row_of(done.stdout, "s3_buckets")
    assert "built-in scripts (no lambdafan.yaml here" in done.stdout


@pytest.mark.parametrize("width", [80, 120])
def test_list_shows_one_line_per_script_cut_to_the_width(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, width: int
) -> None:
    summary = "inventory: every widget in the region, with its owner, cost centre, " + "x" * 80
    write_script(tmp_path, "inventory.py", f'"""{summary}"""\n' + WHOAMI.split('"""', 2)[2])
    write_script(tmp_path, "whoami.py", WHOAMI)
    config = write_config(tmp_path, ["inventory.py", "whoami.py"])
    monkeypatch.setattr(conftest, "CLI_WIDTH", width)

    done = cli("script", "list", "-c", str(config), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    *lines, source = done.stdout.splitlines()
    assert source == f"configured scripts from {config}"  # a path: whole, pasteable
    assert all(len(line) <= width for line in lines), done.stdout
    names = ["inventory", "whoami", *builtin_scripts()]
    for name in names:  # one line each, the name whole
        assert sum(1 for line in lines if line.startswith(f"{name} ")) == 1, done.stdout
    assert len(lines) == len(names) + 2  # a title, a header, a line per script
    mine = row_of(done.stdout, "inventory")
    assert mine.split()[:3] == ["inventory", "region", "yes"]
    assert mine.split()[3] == ("inventory…" if width == 80 else "inventory.py")
    # The `inventory:` prefix repeats the name column: it is left out; the rest is cut.
    assert "  every widget in the" in mine and mine.endswith("…")
    whole = "  Which account the session is really in."
    assert row_of(done.stdout, "whoami").rstrip().endswith("…" if width == 80 else whole)


def test_list_shows_the_configured_scripts(tmp_path: Path) -> None:
    write_script(tmp_path, "whoami.py", WHOAMI)
    config = write_config(tmp_path, ["whoami.py", "s3_buckets"])

    done = cli("script", "list", "-c", str(config), cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    mine = row_of(done.stdout, "whoami")
    assert "region" in mine and "whoami.py" in mine and "yes" in mine
    assert "Which account the session is really in." in mine
    assert "yes" in row_of(done.stdout, "s3_buckets")
    assert "yes" not in row_of(done.stdout, "ec2_instances")
    assert done.stdout.index("\nwhoami ") < done.stdout.index("\nec2_instances ")


def test_list_with_a_broken_config_is_an_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, ["missing.py"])

    done = cli("script", "list", "-c", str(config), cwd=tmp_path)

    assert done.returncode == 2
    assert "missing.py: file not found" in one_error_line(done.stderr)


def test_test_names_its_own_formats_for_the_columns_it_left_out(
    server: str, tmp_path: Path
) -> None:
    write_script(
        tmp_path,
        "wide.py",
        "def collect(session, region, account):\n    yield {'id': 'i-1', 'blob': 'x' * 250}\n",
    )
    done = cli(
        "script", "test", "wide.py", "--account", MEMBER, "--region", "eu-west-1",
        "--role", ROLE, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    flat = " ".join(done.stdout.split())
    # Not `results --columns`: script test's records are in no table, and it has no csv.
    assert (
        "columns left out (terminal 200 wide): blob: see them with --format json or jsonl" in flat
    )
