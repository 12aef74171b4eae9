"""The config's `script_requirements` as wheels for the functions' Python and CPU, downloaded by
pip once and cached on disk, so the same requirements always give the Worker the same bytes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdafan.deploy.wheels import distribution, wheel_files
from lambdafan.errors import LambdafanError, UsageError
from lambdafan.lambda_runtime import RUNTIME_DISTRIBUTIONS, python_version

CACHE_ENV = "LAMBDAFAN_CACHE_DIR"
# Part of every cache key: bump it when what a cache folder holds changes meaning.
_CACHE_FORMAT = 1
# manylinux2014 (glibc 2.17) wheels run on Amazon Linux 2023, which Lambda's python3.12 uses;
# pip also accepts wheels tagged for any older manylinux, and pure-Python ones.
_PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}
_NOT_FOUND = ("No matching distribution found", "Could not find a version")

Runner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class Target:
    """What the wheels must run on: a Lambda runtime's Python and a CPU architecture."""

    runtime: str  # python3.12
    architecture: str  # arm64
    python_version: str  # 3.12, as pip's --python-version wants it
    platform: str  # manylinux2014_aarch64, pip's --platform

    @classmethod
    def for_lambda(cls, runtime: str, architecture: str) -> Target:
        if architecture not in _PLATFORMS:
            raise ValueError(f"no wheel platform known for Lambda architecture {architecture!r}")
        major, minor = python_version(runtime)
        return cls(runtime, architecture, f"{major}.{minor}", _PLATFORMS[architecture])

    def describe(self) -> str:
        return f"{self.runtime} on {self.architecture} ({self.platform})"


def run_pip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """This interpreter's pip, with `args`, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False
    )


def vendor_requirements(
    requirements: Sequence[str], target: Target, *, run: Runner = run_pip
) -> dict[str, bytes]:
    """The files the requirements install into site-packages, for `build_bundle`'s Worker.

    Downloads with pip only when the cache lacks these requirements for this target.
    """
    if not requirements:
        return {}
    wheels = cached_wheels(requirements, target)
    if wheels is None:
        wheels = download_wheels(requirements, target, run=run)
    return script_packages(wheels)


def script_packages(wheels: Sequence[Path]) -> dict[str, bytes]:
    """The files the wheels install into site-packages, but for the runtime's own packages."""
    # A requirement may depend on boto3: the runtime's copy stays the one the scripts import.
    return wheel_files([w for w in wheels if distribution(w) not in RUNTIME_DISTRIBUTIONS])


def cache_root() -> Path:
    """`$LAMBDAFAN_CACHE_DIR`, else `lambdafan` in the user's cache folder (~/.cache)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lambdafan"


def cache_dir(requirements: Sequence[str], target: Target) -> Path:
    """The folder holding the wheels of exactly these requirements for this target."""
    key = json.dumps(
        [_CACHE_FORMAT, sorted(requirements), target.python_version, target.platform, "cp"]
    )
    return cache_root() / "wheels" / hashlib.sha256(key.encode()).hexdigest()[:24]


def cached_wheels(requirements: Sequence[str], target: Target) -> tuple[Path, ...] | None:
    """The cached wheels of these requirements, or None if they were never downloaded. No pip."""
    if not requirements:
        return ()
    folder = cache_dir(requirements, target)
    if not folder.is_dir():
        return None
    return tuple(sorted(folder.glob("*.whl")))


def download_wheels(
    requirements: Sequence[str], target: Target, *, run: Runner = run_pip
) -> tuple[Path, ...]:
    """Have pip download the requirements' wheels (and their dependencies') into the cache."""
    folder = cache_dir(requirements, target)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        # Into a scratch folder renamed when complete: an interrupted or failed download never
        # looks cached, and two deploys at once cannot see each other's half-written wheels.
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    except OSError as exc:
        raise LambdafanError(
            f"script_requirements: cannot write the wheel cache {folder.parent} "
            f"({exc.strerror or exc}); set {CACHE_ENV} to a folder you can write"
        ) from None
    try:
        done = _pip_download(requirements, target, scratch, run)
        if done.returncode != 0:
            raise _pip_failure(requirements, target, done)
        try:
            scratch.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
            # Another deploy finished the same download first; its wheels are as good.
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return tuple(sorted(folder.glob("*.whl")))


def _pip_download(
    requirements: Sequence[str], target: Target, dest: Path, run: Runner
) -> subprocess.CompletedProcess[str]:
    args = [
        "download",
        "--only-binary=:all:",  # never build: a build here would be for the laptop's platform
        "--platform", target.platform,
        "--python-version", target.python_version,
        "--implementation", "cp",
        "--dest", str(dest),
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar", "off",
        *requirements,
    ]  # fmt: skip
    try:
        return run(args)
    except OSError as exc:
        raise LambdafanError(
            f"script_requirements: cannot run pip with {sys.executable} ({exc.strerror or exc})"
        ) from None


def _pip_failure(
    requirements: Sequence[str], target: Target, done: subprocess.CompletedProcess[str]
) -> LambdafanError:
    """pip's failure as one line: its last error, for which requirements and which platform."""
    lines = [line.strip() for line in (done.stderr or "").splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith("ERROR:")]
    reason = errors[-1] if errors else (lines[-1] if lines else f"exit code {done.returncode}")
    if "No module named pip" in reason:
        return LambdafanError(
            f"script_requirements need pip, which {sys.executable} lacks "
            f"(install it with: {sys.executable} -m ensurepip)"
        )
    if reason.startswith(_NOT_FOUND):
        return UsageError(
            f"script_requirements: no wheel for {target.describe()}: {reason} (lambdafan "
            "installs binary wheels only: check the name and version, and that the project "
            "publishes wheels for this platform or pure-Python ones)"
        )
    return LambdafanError(
        f"script_requirements: pip could not download {', '.join(requirements)} for "
        f"{target.describe()}: {reason}"
    )
