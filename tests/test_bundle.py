"""The code bundle: reproducible to the byte, and importable as Lambda would import it."""

from __future__ import annotations

import ast
import base64
import dataclasses
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambda_src.scripts import ScriptError, builtin_scripts
from lambda_src.settings import SETTINGS_FILE_ENV, FleetSettings, ScriptRef
from lambdafan.deploy import bundle as bundle_module
from lambdafan.deploy.bundle import Bundle, build_bundle
from tests.conftest import SCRIPTS, make_settings


def _settings_with(tmp_path: Path, *names: str) -> FleetSettings:
    """Settings running the built-in ec2_instances and copies (in tmp_path) of test scripts."""
    refs = [ScriptRef("ec2_instances", str(builtin_scripts()["ec2_instances"]))]
    for name in names:
        copy = tmp_path / "src" / f"{name}.py"
        copy.parent.mkdir(exist_ok=True)
        shutil.copyfile(SCRIPTS / f"{name}.py", copy)
        refs.append(ScriptRef(name, str(copy)))
    return dataclasses.replace(make_settings(), scripts=tuple(refs))


def _fleet_json(bundle: Bundle) -> FleetSettings:
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        return FleetSettings.from_dict(json.loads(archive.read("fleet.json")))


def test_building_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    settings = _settings_with(tmp_path, "whoami", "buckets")
    first = build_bundle(settings, include_scripts=True)
    for ref in settings.scripts[1:]:
        os.utime(ref.path, (1_000_000_000, 1_000_000_000))
    second = build_bundle(settings, include_scripts=True)

    assert first == second
    assert first.sha256 == base64.b64encode(hashlib.sha256(first.data).digest()).decode()
    with zipfile.ZipFile(io.BytesIO(first.data)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_entries_are_sorted_relative_regular_files(tmp_path: Path) -> None:
    bundle = build_bundle(_settings_with(tmp_path, "whoami"), include_scripts=True)
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]

    assert names == sorted(names) == list(bundle.files)
    for info in infos:
        assert info.external_attr >> 16 == stat.S_IFREG | 0o644, info.filename
        assert info.create_system == 3
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert not info.is_dir()
    for name in names:
        assert not name.startswith("/") and ".." not in name.split("/") and "\\" not in name
        assert "__pycache__" not in name and not name.endswith(".pyc")
    assert {
        "fleet.json",
        "lambda_src/handlers.py",
        "lambda_src/builtin_scripts/ec2_instances.py",
        "user_scripts/whoami.py",
    } <= set(names)


def test_only_the_worker_bundle_holds_user_scripts_and_the_external_id(tmp_path: Path) -> None:
    settings = dataclasses.replace(_settings_with(tmp_path, "whoami"), external_id="s3cret-id")
    worker = build_bundle(settings, include_scripts=True)
    director = build_bundle(settings, include_scripts=False)

    assert "user_scripts/whoami.py" in worker.files
    assert not any(name.startswith("user_scripts/") for name in director.files)
    assert "lambda_src/builtin_scripts/ec2_instances.py" in director.files
    assert set(worker.files) - set(director.files) == {"user_scripts/whoami.py"}
    # Only the Worker assumes member roles; the Director and Notifier need the scripts' names.
    assert _fleet_json(worker).external_id == "s3cret-id"
    assert _fleet_json(director).external_id is None
    assert b"s3cret-id" not in director.data
    assert dataclasses.replace(_fleet_json(worker), external_id=None) == _fleet_json(director)
    assert [(r.name, r.path) for r in _fleet_json(director).scripts] == [
        ("ec2_instances", "lambda_src/builtin_scripts/ec2_instances.py"),
        ("whoami", "user_scripts/whoami.py"),
    ]


def test_bundle_settings_keep_everything_but_script_paths(tmp_path: Path) -> None:
    settings = _settings_with(tmp_path, "whoami")
    bundled = _fleet_json(build_bundle(settings, include_scripts=True))

    assert all(not Path(r.path).is_absolute() for r in bundled.scripts)
    assert dataclasses.replace(bundled, scripts=settings.scripts) == settings
    assert [r.name for r in bundled.scripts] == [r.name for r in settings.scripts]


def test_every_bundle_carries_each_scripts_key_for_the_notifiers_diff(tmp_path: Path) -> None:
    # The Notifier has no user scripts, yet diffs runs by their KEY: the settings carry it.
    settings = _settings_with(tmp_path, "inventory", "whoami")
    notifier = _fleet_json(build_bundle(settings, include_scripts=False))

    assert {r.name: r.key for r in notifier.scripts} == {
        "ec2_instances": ("instance_id",),
        "inventory": ("instance_id",),
        "whoami": (),
    }


def test_extracted_worker_bundle_loads_its_settings_and_scripts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = build_bundle(_settings_with(tmp_path, "whoami", "buckets"), include_scripts=True)
    root = tmp_path / "task"
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        archive.extractall(root)
    monkeypatch.setenv(SETTINGS_FILE_ENV, str(root / "fleet.json"))
    # cwd and PYTHONPATH are the extracted folder, as on Lambda (/var/task): the repo's own
    # lambda_src must not be the one imported, or relative script paths would resolve there.
    code = (
        "from pathlib import Path\n"
        "import lambda_src\n"
        "from lambda_src.scripts import load_script\n"
        "from lambda_src.settings import load_settings, resolve_script_path\n"
        "root = Path.cwd().resolve()\n"
        "assert Path(lambda_src.__file__).resolve().is_relative_to(root), lambda_src.__file__\n"
        "for ref in load_settings().scripts:\n"
        "    path = resolve_script_path(ref)\n"
        "    assert path.resolve().is_relative_to(root), path\n"
        "    print(load_script(path, ref.name).name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ec2_instances", "whoami", "buckets"]


def test_a_script_edit_changes_only_the_worker_bundle(tmp_path: Path) -> None:
    settings = _settings_with(tmp_path, "whoami")
    worker = build_bundle(settings, include_scripts=True)
    director = build_bundle(settings, include_scripts=False)
    script = Path(settings.scripts[1].path)
    script.write_text(script.read_text() + "\n# edited\n")

    assert build_bundle(settings, include_scripts=True).sha256 != worker.sha256
    assert build_bundle(settings, include_scripts=False).sha256 == director.sha256


def test_a_settings_change_changes_every_bundle(tmp_path: Path) -> None:
    settings = _settings_with(tmp_path, "whoami")
    changed = dataclasses.replace(settings, ttl_days=settings.ttl_days + 1)

    for include_scripts in (True, False):
        before = build_bundle(settings, include_scripts=include_scripts)
        after = build_bundle(changed, include_scripts=include_scripts)
        assert before.sha256 != after.sha256


PACKAGES = {
    "lfdemo_pkg/__init__.py": b"VALUE = 42\n",
    "lfdemo_pkg/sub/mod.py": b"",
    "lfdemo_pkg-1.0.dist-info/METADATA": b"Name: lfdemo_pkg\n",
}


def test_only_the_worker_bundle_holds_script_packages(tmp_path: Path) -> None:
    settings = _settings_with(tmp_path, "whoami")
    plain = build_bundle(settings, include_scripts=True)
    worker = build_bundle(settings, include_scripts=True, script_packages=PACKAGES)

    assert set(worker.files) - set(plain.files) == {f"script_packages/{p}" for p in PACKAGES}
    with zipfile.ZipFile(io.BytesIO(worker.data)) as archive:
        assert archive.read("script_packages/lfdemo_pkg/__init__.py") == b"VALUE = 42\n"
    # Same packages, given in another order: the same bytes.
    again = build_bundle(
        settings, include_scripts=True, script_packages=dict(reversed(PACKAGES.items()))
    )
    assert again == worker
    with pytest.raises(ValueError, match="Worker's bundle only"):
        build_bundle(settings, include_scripts=False, script_packages=PACKAGES)
    assert build_bundle(settings, include_scripts=False, script_packages={}).files


def test_a_broken_script_is_reported_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def collect(session, region, account):\n    return [\n")
    settings = _settings_with(tmp_path, "whoami")
    settings = dataclasses.replace(
        settings, scripts=(*settings.scripts, ScriptRef("broken", str(broken)))
    )

    # Checked before anything is built: zipping would fail the test.
    monkeypatch.setattr(bundle_module, "_zip", lambda entries: pytest.fail("zipped"))
    for include_scripts in (True, False):
        with pytest.raises(ScriptError, match=rf"^{re.escape(str(broken))}:2: syntax error"):
            build_bundle(settings, include_scripts=include_scripts)


# --- the bundle imports with only what Lambda's Python runtime has ---------------------------

# What the Python runtime of Lambda provides besides the standard library: boto3 and its deps.
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "dateutil", "urllib3", "s3transfer", "six")
# Installed here for the CLI or the tests, absent on Lambda: lambda_src must never import them.
CLI_ONLY = ("lambdafan", "yaml", "pydantic", "rich", "typer", "moto")

# Run with `python -I -S`: no PYTHONPATH, no user or venv site-packages, no script directory.
# sys.path becomes the standard library, then the extracted bundle, then the runtime packages.
IMPORT_EVERY_MODULE = """
import importlib, importlib.util, json, pathlib, sys, traceback
root, runtime, forbidden = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
sys.path[:] = [p for p in sys.path if p and "site-packages" not in p] + [root, runtime]
reachable = [name for name in forbidden if importlib.util.find_spec(name) is not None]
failed = {}
modules = sorted(
    ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
    for path in pathlib.Path(root, "lambda_src").rglob("*.py")
)
for module in modules:
    try:
        importlib.import_module(module)
    except BaseException:
        failed[module] = traceback.format_exc(limit=-1).strip().splitlines()[-1]
loaded = sorted({name.split(".")[0] for name in sys.modules} & set(forbidden))
print(json.dumps({"modules": modules, "failed": failed, "loaded": loaded,
                  "reachable": reachable, "path": sys.path}))
"""


@pytest.fixture(scope="session")
def lambda_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding only boto3, botocore and their dependencies (symlinks to this venv's)."""
    folder = tmp_path_factory.mktemp("lambda-runtime")
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (folder / source.name).symlink_to(source)
    return folder


def _extracted_worker_bundle(tmp_path: Path) -> Path:
    bundle = build_bundle(_settings_with(tmp_path, "whoami"), include_scripts=True)
    root = tmp_path / "task"
    with zipfile.ZipFile(io.BytesIO(bundle.data)) as archive:
        archive.extractall(root)
    return root


def _import_every_module(root: Path, runtime: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", IMPORT_EVERY_MODULE, str(root), str(runtime),
         ",".join(CLI_ONLY)],
        capture_output=True, text=True, cwd=root, env=env, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    # The clean interpreter really is clean: nothing the CLI has is even importable.
    assert report["reachable"] == []
    assert report["path"][-2:] == [str(root), str(runtime)]
    return report


def test_every_bundled_module_imports_with_only_the_lambda_runtime(
    tmp_path: Path, lambda_runtime: Path
) -> None:
    root = _extracted_worker_bundle(tmp_path)

    report = _import_every_module(root, lambda_runtime)

    assert report["failed"] == {}
    assert report["loaded"] == []
    bundled = {
        f"lambda_src.{p.removeprefix('lambda_src/').removesuffix('.py').replace('/', '.')}"
        for p in build_bundle(_settings_with(tmp_path, "whoami"), include_scripts=True).files
        if p.startswith("lambda_src/")
    }
    assert {m.removesuffix(".__init__") for m in bundled} == set(report["modules"])
    assert {"lambda_src", "lambda_src.handlers", "lambda_src.worker"} <= set(report["modules"])


def test_the_import_check_catches_a_module_importing_what_lambda_lacks(
    tmp_path: Path, lambda_runtime: Path
) -> None:
    root = _extracted_worker_bundle(tmp_path)
    for name in CLI_ONLY:
        (root / "lambda_src" / f"bad_{name}.py").write_text(f"import {name}\n")
    (root / "lambda_src" / "bad_from.py").write_text("from lambdafan.errors import UsageError\n")

    report = _import_every_module(root, lambda_runtime)

    assert sorted(report["failed"]) == sorted(
        [f"lambda_src.bad_{name}" for name in CLI_ONLY] + ["lambda_src.bad_from"]
    )
    for name in CLI_ONLY:
        assert f"No module named '{name}'" in report["failed"][f"lambda_src.bad_{name}"]
    assert "handlers" not in " ".join(report["failed"])  # the good modules still import


def _imports_in(source: str) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every import, at any depth (inside functions too)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def test_no_bundled_module_imports_beyond_the_runtime_even_lazily() -> None:
    """Imports inside functions escape the import check above; read them instead."""
    allowed = set(sys.stdlib_module_names) | {"boto3", "botocore", "lambda_src"}
    outside = [
        f"{path.relative_to(bundle_module.PACKAGE_DIR.parent)}:{line}: {name}"
        for path in sorted(bundle_module.PACKAGE_DIR.rglob("*.py"))
        for line, name in _imports_in(path.read_text(encoding="utf-8"))
        if name not in allowed
    ]
    assert outside == []
    assert sorted(_imports_in("def f():\n    import yaml\n")) == [(2, "yaml")]
