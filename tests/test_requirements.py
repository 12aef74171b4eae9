"""Script requirements: wheels for the functions' platform, downloaded by pip once, cached, and
unpacked into the Worker's bundle alone. pip runs for real here, offline, on a local wheel."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import boto3
import pytest

from lambdafan.config import load_config
from lambdafan.deploy import requirements as requirements_module
from lambdafan.deploy.bundle import Bundle
from lambdafan.deploy.fleet_arns import FleetArns
from lambdafan.deploy.model import ARCHITECTURE, RUNTIME, fleet_model
from lambdafan.deploy.requirements import (
    CACHE_ENV,
    Target,
    cache_dir,
    cache_root,
    cached_wheels,
    download_wheels,
    vendor_requirements,
)
from lambdafan.deploy.wheels import top_level_modules, wheel_files, wheel_modules
from lambdafan.errors import LambdafanError, UsageError
from tests.conftest import Recorder, cli, deployable_config, mutating
from tests.wheel_support import (
    DEMO_MODULE,
    DEMO_PACKAGE,
    DEMO_REQUIREMENT,
    offline_pip,
    write_wheel,
)

ARM = Target.for_lambda("python3.12", "arm64")
DEMO_FILES = {f"{DEMO_PACKAGE}/__init__.py", f"{DEMO_PACKAGE}-1.0.dist-info/METADATA"}


def no_pip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    raise AssertionError(f"pip ran: {args}")


def failing_pip(stderr: str, returncode: int = 1) -> requirements_module.Runner:
    def run(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(list(args), returncode, "", stderr)

    return run


@pytest.fixture
def links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip's only package source: a folder holding the demo wheel; the cache in tmp_path."""
    folder = tmp_path / "links"
    write_wheel(folder)
    offline_pip(monkeypatch, folder, tmp_path / "cache")
    return folder


def test_targets_of_lambda_runtimes() -> None:
    assert (ARM.python_version, ARM.platform) == ("3.12", "manylinux2014_aarch64")
    x86 = Target.for_lambda("python3.13", "x86_64")
    assert (x86.python_version, x86.platform) == ("3.13", "manylinux2014_x86_64")
    assert ARM.describe() == "python3.12 on arm64 (manylinux2014_aarch64)"
    assert Target.for_lambda(RUNTIME, ARCHITECTURE) == ARM  # what deploy uses
    with pytest.raises(ValueError, match="architecture 'sparc'"):
        Target.for_lambda("python3.12", "sparc")
    with pytest.raises(ValueError, match=r"'nodejs20\.x' is not a Lambda Python runtime"):
        Target.for_lambda("nodejs20.x", "arm64")


def test_pip_downloads_once_then_the_cache_serves(links: Path, tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def pip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        calls.append(list(args))
        return requirements_module.run_pip(args)

    first = vendor_requirements([DEMO_REQUIREMENT], ARM, run=pip)

    assert set(first) >= DEMO_FILES
    assert first[f"{DEMO_PACKAGE}/__init__.py"] == DEMO_MODULE.encode()
    [args] = calls
    assert args[:2] == ["download", "--only-binary=:all:"]
    for option, value in [
        ("--platform", "manylinux2014_aarch64"),
        ("--python-version", "3.12"),
        ("--implementation", "cp"),
    ]:
        assert args[args.index(option) + 1] == value
    assert args[-1] == DEMO_REQUIREMENT
    folder = cache_dir([DEMO_REQUIREMENT], ARM)
    assert folder.is_relative_to(tmp_path / "cache" / "wheels")
    assert [p.name for p in folder.iterdir()] == [f"{DEMO_PACKAGE}-1.0-py3-none-any.whl"]
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no scratch left

    # Second time: no pip at all, the same files.
    for wheel in links.iterdir():
        wheel.unlink()
    assert vendor_requirements([DEMO_REQUIREMENT], ARM, run=no_pip) == first


def test_pip_failure_is_one_line_and_caches_nothing(links: Path) -> None:
    with pytest.raises(UsageError) as caught:
        vendor_requirements(["no-such-project==1.0"], ARM)

    assert str(caught.value).startswith(
        "script_requirements: no wheel for python3.12 on arm64 (manylinux2014_aarch64): "
        "No matching distribution found for no-such-project==1.0 (lambdafan installs binary "
        "wheels only"
    )
    assert "\n" not in str(caught.value)
    assert cached_wheels(["no-such-project==1.0"], ARM) is None
    assert list((cache_root() / "wheels").iterdir()) == []


@pytest.mark.parametrize(
    ("stderr", "expected", "error_type"),
    [
        (
            "WARNING: Retrying after connection broken\n"
            "ERROR: Could not install packages due to an OSError: "
            "HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded\n",
            "script_requirements: pip could not download pyyaml==6.0.2, requests for python3.12 "
            "on arm64 (manylinux2014_aarch64): Could not install packages due to an OSError: "
            "HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded",
            LambdafanError,
        ),
        (
            "/usr/bin/python3: No module named pip\n",
            "script_requirements need pip, which",
            LambdafanError,
        ),
        (
            "ERROR: Could not find a version that satisfies the requirement pyyaml==6.0.2\n",
            "script_requirements: no wheel for python3.12 on arm64",
            UsageError,
        ),
        ("", "script_requirements: pip could not download", LambdafanError),
    ],
)
def test_pip_failures_name_requirements_and_platform(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stderr: str,
    expected: str,
    error_type: type[Exception],
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    with pytest.raises(LambdafanError) as caught:
        vendor_requirements(["pyyaml==6.0.2", "requests"], ARM, run=failing_pip(stderr))
    assert type(caught.value) is error_type
    assert str(caught.value).startswith(expected)
    assert cached_wheels(["pyyaml==6.0.2", "requests"], ARM) is None


def test_pip_that_cannot_start_is_an_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))

    def missing(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(2, "No such file or directory")

    with pytest.raises(LambdafanError, match=r"cannot run pip with .*No such file or directory"):
        vendor_requirements(["pyyaml"], ARM, run=missing)


def test_an_unwritable_cache_is_an_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "file" / "cache"))
    with pytest.raises(LambdafanError, match=r"cannot write the wheel cache .*LAMBDAFAN_CACHE_DIR"):
        vendor_requirements(["pyyaml"], ARM, run=no_pip)


def test_no_requirements_touch_neither_pip_nor_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    assert vendor_requirements([], ARM, run=no_pip) == {}
    assert cached_wheels([], ARM) == ()
    assert not (tmp_path / "cache").exists()


def test_cache_location_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "lambdafan"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "lambdafan"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"

    key = cache_dir(["a==1", "b==2"], ARM)
    assert key.parent == tmp_path / "mine" / "wheels"
    assert cache_dir(["b==2", "a==1"], ARM) == key  # order does not matter to pip
    assert cache_dir(["a==1", "b==3"], ARM) != key
    assert cache_dir(["a==1", "b==2"], Target.for_lambda("python3.12", "x86_64")) != key
    assert cache_dir(["a==1", "b==2"], Target.for_lambda("python3.13", "arm64")) != key


def test_a_download_racing_another_deploy_keeps_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    folder = cache_dir(["lfdemo-pkg"], ARM)

    def racing(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        write_wheel(Path(args[args.index("--dest") + 1]), version="2.0")
        write_wheel(folder)  # the other deploy renames its folder into place first
        return subprocess.CompletedProcess(list(args), 0, "", "")

    wheels = download_wheels(["lfdemo-pkg"], ARM, run=racing)

    assert [w.name for w in wheels] == [f"{DEMO_PACKAGE}-1.0-py3-none-any.whl"]
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def test_the_runtimes_own_packages_are_not_vendored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    folder = cache_dir(["needs-boto3"], ARM)
    write_wheel(folder, "needs_boto3")
    for name in ("boto3", "botocore", "s3transfer"):
        write_wheel(folder, name)

    files = vendor_requirements(["needs-boto3"], ARM, run=no_pip)

    assert {path.split("/")[0] for path in files} == {"needs_boto3", "needs_boto3-1.0.dist-info"}


def test_wheel_files_are_what_an_install_would_import(tmp_path: Path) -> None:
    wheel = write_wheel(
        tmp_path,
        "demo",
        files={
            "demo/__init__.py": "",
            "demo/__pycache__/__init__.cpython-312.pyc": "bytecode",
            "demo/stale.pyc": "bytecode",
            "_demo_speedups.cpython-312-aarch64-linux-gnu.so": "ELF",
            "demo-1.0.data/purelib/demo_extra.py": "",
            "demo-1.0.data/platlib/demo_native/__init__.py": "",
            "demo-1.0.data/scripts/demo-cli": "#!python",
            "demo-1.0.data/headers/demo.h": "",
        },
    )

    files = wheel_files([wheel])

    assert sorted(files) == [
        "_demo_speedups.cpython-312-aarch64-linux-gnu.so",
        "demo-1.0.dist-info/METADATA",
        "demo-1.0.dist-info/RECORD",
        "demo-1.0.dist-info/WHEEL",
        "demo/__init__.py",
        "demo_extra.py",
        "demo_native/__init__.py",
    ]
    assert wheel_modules(wheel) == {"demo", "_demo_speedups", "demo_extra", "demo_native"}
    assert top_level_modules(["six.py", "README", "x.pth", "a-b/c.py"]) == {"six"}


@pytest.mark.parametrize("name", ["../evil.py", "/etc/evil.py", "demo/../../evil.py"])
def test_a_wheel_escaping_its_folder_is_refused(tmp_path: Path, name: str) -> None:
    wheel = write_wheel(tmp_path, "demo", files={name: ""})
    with pytest.raises(LambdafanError, match="refusing the unsafe path"):
        wheel_files([wheel])


def test_a_corrupt_wheel_is_an_error(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    wheel.write_bytes(b"not a zip")
    with pytest.raises(LambdafanError, match=r"demo-1.0-py3-none-any.whl: cannot read this wheel"):
        wheel_files([wheel])
    assert wheel_modules(wheel) == frozenset()


# --- deploy: the fleet model's Worker bundle -------------------------------------------------


def _bundles(config: Path) -> dict[str, Bundle]:
    """Each function's bundle in the fleet model of `config`, by kind."""
    loaded = load_config(config)
    model = fleet_model(loaded, FleetArns.from_settings(loaded.to_settings(), "123456789012"))
    return {f.kind: f.bundle for f in model.functions}


def test_deploy_vendors_into_the_worker_alone_and_reproducibly(links: Path, tmp_path: Path) -> None:
    config = deployable_config(tmp_path, "reqs", script_requirements=[DEMO_REQUIREMENT])

    first = _bundles(config)

    assert {f"script_packages/{name}" for name in DEMO_FILES} <= set(first["worker"].files)
    for kind in ("director", "notifier"):
        assert not any(name.startswith("script_packages/") for name in first[kind].files)
    # Again, with pip's only source emptied: the cache gives the same bytes, so no re-upload.
    for wheel in links.iterdir():
        wheel.unlink()
    assert _bundles(config) == first
    plain = _bundles(deployable_config(tmp_path, "reqs", script_requirements=[]))
    assert plain["worker"].sha256 != first["worker"].sha256
    assert plain["director"] == first["director"]

    # The package imports from the extracted bundle's script_packages folder, with nothing but
    # the standard library besides (the sandbox's own test covers the Worker's sys.path).
    root = tmp_path / "task"
    with zipfile.ZipFile(io.BytesIO(first["worker"].data)) as archive:
        archive.extractall(root)
    code = f"import sys; sys.path.append(sys.argv[1]); import {DEMO_PACKAGE} as m; print(m.VALUE)"
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(root / "script_packages")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, "42"), done.stderr


def test_cli_deploy_uploads_requirements_once(
    server: str, recorder: Recorder, links: Path, tmp_path: Path
) -> None:
    assert cli("deploy", "-c", str(deployable_config(tmp_path, "reqs"))).returncode == 0

    recorder.start()
    config = deployable_config(tmp_path, "reqs", script_requirements=["no-such-project==1.0"])
    failed = cli("deploy", "-c", str(config))
    assert failed.returncode == 2
    assert failed.stderr.startswith(
        "error: script_requirements: no wheel for python3.12 on arm64 (manylinux2014_aarch64): "
        "No matching distribution found for no-such-project==1.0"
    )
    assert mutating(recorder.stop()) == []

    config = deployable_config(tmp_path, "reqs", script_requirements=[DEMO_REQUIREMENT])
    recorder.start()
    assert cli("deploy", "-c", str(config)).returncode == 0
    assert mutating(recorder.stop()) == ["lambda:PUT /2015-03-31/functions/reqs-worker/code"]
    worker = boto3.client("lambda", region_name="us-east-1").get_function(
        FunctionName="reqs-worker"
    )["Configuration"]
    assert worker["CodeSha256"] == _bundles(config)["worker"].sha256

    # pip's only source emptied: the cache serves the same bytes, so nothing is uploaded.
    for wheel in links.iterdir():
        wheel.unlink()
    recorder.start()
    again = cli("deploy", "-c", str(config))
    assert "No changes: the fleet is up to date." in again.stdout, again.stderr
    assert mutating(recorder.stop()) == []
