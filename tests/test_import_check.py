"""`validate` imports scripts only in sandboxes, each within a time limit."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from lambda_src.scripts import describe_script
from lambdafan.script_tools.import_check import import_problems
from tests.conftest import cli

HERE = Path(__file__).parent / "sandbox_scripts"


def test_a_script_that_hangs_exits_or_lacks_a_module_at_import_is_reported_in_time() -> None:
    names = ("good", "sleeps_at_import", "exits_at_import", "missing_module", "segfault")
    specs = [describe_script(HERE / f"{name}.py") for name in names]
    began = time.monotonic()
    problems = [str(p) for p in import_problems(specs, "us-east-1", limit_s=1)]
    took = time.monotonic() - began
    assert took < 30, f"{took:.1f}s"  # 2 s of limit, plus starting the sandbox on a busy machine
    assert problems == [
        f"{HERE / 'sleeps_at_import.py'}: still importing after 1s (killed)",
        f"{HERE / 'exits_at_import.py'}: fails on import: the script's process exited "
        "(code 0, e.g. os._exit)",
        f"{HERE / 'missing_module.py'}:1: fails on import: ModuleNotFoundError: No module named "
        "'lambdafan_no_such_package' — add it to script_requirements",
    ]


def test_validate_never_imports_a_script_in_its_own_process(tmp_path: Path) -> None:
    # Imported in validate's process, this would end it with exit code 0 and no output.
    (tmp_path / "bye.py").write_text((HERE / "exits_at_import.py").read_text())
    config = tmp_path / "lambdafan.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "fleet": "val",
                "home_region": "us-east-1",
                "accounts": {"list": ["111111111111"]},
                "scripts": ["bye.py"],
            }
        )
    )
    done = cli("validate", "-c", str(config))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"error: {tmp_path / 'bye.py'}: fails on import: the script's process exited "
        "(code 0, e.g. os._exit)"
    )


def write_fleet(folder: Path, scripts: list[str], **extra: object) -> Path:
    config = folder / "lambdafan.yaml"
    body = {
        "fleet": "val",
        "home_region": "us-east-1",
        "accounts": {"list": ["111111111111"]},
        "scripts": scripts,
        **extra,
    }
    config.write_text(yaml.safe_dump(body))
    return config


def test_validate_reports_every_script_problem_in_one_round(tmp_path: Path) -> None:
    (tmp_path / "bye.py").write_text((HERE / "exits_at_import.py").read_text())
    (tmp_path / "tags.py").write_text(
        "import yaml\n\ndef collect(session, region, account):\n    yield {}\n"
    )
    done = cli("validate", "-c", str(write_fleet(tmp_path, ["bye.py", "tags.py"])))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {tmp_path / 'tags.py'}:1: imports yaml, which the Worker won't have — add pyyaml "
        "to script_requirements",
        f"error: {tmp_path / 'bye.py'}: fails on import: the script's process exited (code 0, "
        "e.g. os._exit)",
    ]


def test_a_declared_requirement_missing_here_leaves_the_import_untried(tmp_path: Path) -> None:
    (tmp_path / "uses.py").write_text(
        "import lfnotinstalled_pkg\n\ndef collect(session, region, account):\n    yield {}\n"
    )
    config = write_fleet(tmp_path, ["uses.py"], script_requirements=["lfnotinstalled-pkg==1.0"])
    done = cli("validate", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert (
        f"{tmp_path / 'uses.py'}: import not tried: lfnotinstalled_pkg (from script_requirements) "
        "is not installed here"
    ) in " ".join(done.stderr.split())


def test_a_script_calling_aws_at_import_is_flagged_not_failed(tmp_path: Path) -> None:
    # No credentials in the sandbox: the call fails before any request, and works in the fleet.
    script = tmp_path / "whoami.py"
    script.write_text(
        "import boto3\n\nME = boto3.client('sts').get_caller_identity()\n\n"
        "def collect(session, region, account):\n    yield ME\n"
    )
    [problem] = import_problems([describe_script(script)], "us-east-1")
    assert problem.calls_aws and not problem.untried
    assert str(problem).startswith(f"{script}:3: calls AWS at import (without credentials here")
