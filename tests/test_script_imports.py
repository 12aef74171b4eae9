"""The static import check: a script importing what the Worker won't have fails `validate` with
one line per import, naming file, line, module and the fix."""

from __future__ import annotations

import ast
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from lambda_src.scripts import builtin_scripts
from lambdafan.config import load_config
from lambdafan.deploy import requirements as requirements_module
from lambdafan.deploy.bundle import build_bundle
from lambdafan.deploy.model import ARCHITECTURE, RUNTIME
from lambdafan.deploy.requirements import CACHE_ENV, Target, cache_dir
from lambdafan.lambda_runtime import stdlib_modules
from lambdafan.script_tools.imports import (
    MissingImport,
    imported_modules,
    missing_imports,
    provided_modules,
)
from tests.conftest import cli, deployable_config
from tests.wheel_support import write_wheel

COLLECT = "\n\ndef collect(session, region, account):\n    return None\n"


def _imports(source: str) -> list[tuple[int, str]]:
    return imported_modules(ast.parse(source))


def _script(folder: Path, source: str, name: str = "check.py") -> Path:
    path = folder / name
    path.write_text(source + COLLECT)
    return path


def _missing(script: Path, requirements: Sequence[str] = ()) -> list[str]:
    return [str(m) for m in missing_imports([script], requirements, runtime=RUNTIME)]


def test_every_absolute_import_at_any_depth() -> None:
    source = (
        "import os, yaml.constructor as c\n"
        "from requests.adapters import HTTPAdapter\n"
        "from . import sibling\n"
        "from .pkg import thing\n"
        "def f():\n"
        "    import orjson\n"
        "    class K:\n"
        "        from lxml import etree\n"
    )
    assert _imports(source) == [
        (1, "os"),
        (1, "yaml"),
        (2, "requests"),
        (6, "orjson"),
        (8, "lxml"),
    ]


def test_imports_the_script_guards_itself_are_skipped() -> None:
    source = (
        "import typing\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import mypy_boto3_ec2\n"
        "else:\n"
        "    import attrs\n"
        "if typing.TYPE_CHECKING:\n"
        "    from mypy_boto3_s3 import S3Client\n"
        "try:\n"
        "    import orjson as json\n"
        "except ImportError:\n"
        "    import json\n"
        "try:\n"
        "    import ujson\n"
        "except (ValueError, ModuleNotFoundError):\n"
        "    pass\n"
        "try:\n"
        "    import simdjson\n"
        "except ValueError:\n"
        "    import rapidjson\n"
        "finally:\n"
        "    import cbor2\n"
    )
    assert [name for _, name in _imports(source)] == [
        "typing",
        "typing",
        "attrs",
        "json",
        "simdjson",
        "rapidjson",
        "cbor2",
    ]


def test_the_motivating_bug_import_yaml(tmp_path: Path) -> None:
    script = _script(tmp_path, "import yaml")

    assert _missing(script) == [
        f"{script}:1: imports yaml, which the Worker won't have — add pyyaml to script_requirements"
    ]
    assert _missing(script, ["pyyaml==6.0.2"]) == []
    assert _missing(script, ["PyYAML>=6"]) == []


def test_what_the_worker_has_without_requirements(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        "from __future__ import annotations\n"
        "import json, concurrent.futures, tomllib\n"
        "import boto3, botocore.exceptions, s3transfer, jmespath, dateutil.parser, urllib3, six\n"
        "from lambda_src.scripts import GLOBAL_REGION\n",
    )
    assert _missing(script) == []


def test_each_missing_import_gets_its_own_advice(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("")
    (tmp_path / "shared").mkdir()
    script = _script(
        tmp_path,
        "import helpers\n"
        "from shared import util\n"
        "import imp\n"
        "import lfdemo_nowhere\n"
        "def later():\n"
        "    import bs4\n",
    )

    assert _missing(script) == [
        f"{script}:1: imports helpers, which the Worker won't have — only the script file "
        "itself is deployed, not the helpers module beside it",
        f"{script}:2: imports shared, which the Worker won't have — only the script file "
        "itself is deployed, not the shared module beside it",
        f"{script}:3: imports imp, which the Worker won't have — Python 3.12 removed it from "
        "the standard library",
        f"{script}:4: imports lfdemo_nowhere, which the Worker won't have — add it to "
        "script_requirements",
        f"{script}:6: imports bs4, which the Worker won't have — add beautifulsoup4 to "
        "script_requirements",
    ]


def test_requirements_provide_modules_by_name_metadata_or_wheel(tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "odd_dist", files={"oddmod/__init__.py": "", "odd_c.py": ""})

    # By name (pip's name with `-` as `_`), by known or installed metadata (yaml for PyYAML).
    assert {"lfdemo_pkg", "yaml", "jwt"} <= provided_modules(["lfdemo-pkg", "pyyaml", "PyJWT"])
    assert "oddmod" not in provided_modules(["odd-dist==1.0"])
    # By the wheel's own files, dependencies included, once a deploy has cached it.
    assert {"oddmod", "odd_c"} <= provided_modules(["odd-dist==1.0"], [wheel])
    assert provided_modules([]) == frozenset()


def test_the_stdlib_is_the_runtimes_not_the_laptops() -> None:
    assert "tomllib" not in stdlib_modules((3, 10))
    assert "tomllib" in stdlib_modules((3, 12))
    assert {"imp", "distutils", "asyncore"}.isdisjoint(stdlib_modules((3, 12)))
    assert "telnetlib" in stdlib_modules((3, 12))
    assert "telnetlib" not in stdlib_modules((3, 13))


def test_scripts_that_do_not_parse_are_left_to_the_script_check(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import yaml\ndef collect(:\n")
    assert missing_imports([broken, tmp_path / "gone.py"], [], runtime=RUNTIME) == []


def test_the_built_in_scripts_pass() -> None:
    assert missing_imports(list(builtin_scripts().values()), [], runtime=RUNTIME) == []


def test_a_missing_import_reads_as_one_line() -> None:
    problem = MissingImport(Path("/x/s.py"), 3, "yaml", "add pyyaml to script_requirements")
    assert str(problem) == (
        "/x/s.py:3: imports yaml, which the Worker won't have — add pyyaml to script_requirements"
    )


# --- `lambdafan validate` --------------------------------------------------------------------


@pytest.fixture
def no_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """validate must never run pip (it stays off the network); the cache lives in tmp_path."""

    def refuse(*args: object, **kwargs: object) -> subprocess.CompletedProcess[str]:
        raise AssertionError("validate ran a subprocess")

    monkeypatch.setattr(requirements_module.subprocess, "run", refuse)
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_validate_names_each_import_the_worker_lacks(tmp_path: Path, no_pip: Path) -> None:
    config = deployable_config(tmp_path, "imports")
    script = tmp_path / "whoami.py"
    script.write_text("import yaml\nimport imp\n" + script.read_text())

    done = cli("validate", "-c", str(config))

    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {script}:1: imports yaml, which the Worker won't have — add pyyaml to "
        "script_requirements",
        f"error: {script}:2: imports imp, which the Worker won't have — Python 3.12 removed it "
        "from the standard library",
    ]
    assert done.stdout == ""

    script.write_text(script.read_text().replace("import imp\n", ""))
    config = deployable_config(tmp_path, "imports", script_requirements=["pyyaml==6.0.2"])
    done = cli("validate", "-c", str(config))

    assert done.returncode == 0, done.stderr
    assert "ok: fleet imports" in done.stdout
    # Nothing downloaded, and the bundle size says so.
    assert "script_requirements not downloaded yet (deploy does it)" in done.stderr


def test_validate_uses_wheels_a_deploy_cached(tmp_path: Path, no_pip: Path) -> None:
    config = deployable_config(tmp_path, "imports", script_requirements=["odd-dist==1.0"])
    script = tmp_path / "whoami.py"
    # Imported when collect runs, so validate can load the script without the package here.
    script.write_text(script.read_text() + "\n\ndef later():\n    import oddmod\n")

    before = cli("validate", "-c", str(config))
    assert before.returncode == 2
    assert "imports oddmod, which the Worker won't have — add it to" in before.stderr

    target = Target.for_lambda(RUNTIME, ARCHITECTURE)
    write_wheel(
        cache_dir(["odd-dist==1.0"], target), "odd_dist", files={"oddmod/__init__.py": "X = 1\n"}
    )
    after = cli("validate", "-c", str(config))
    assert after.returncode == 0, after.stderr
    assert "not downloaded" not in after.stderr
    plain = build_bundle(load_config(config).to_settings(), include_scripts=True)
    assert _bundle_size(after.stdout) > len(plain.data)


def _bundle_size(stdout: str) -> int:
    line = next(line for line in stdout.splitlines() if "Worker bundle:" in line)
    return int(line.split(":")[1].split()[0].replace(",", ""))
