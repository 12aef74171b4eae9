"""Script requirements without the network: a tiny wheel written in-process, and pip pointed at
its folder alone. Shared by the requirement, import-check and sandbox tests."""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from lambdafan.deploy.requirements import CACHE_ENV

DEMO_PACKAGE = "lfdemo_pkg"
DEMO_REQUIREMENT = "lfdemo-pkg==1.0"
DEMO_MODULE = '"""A stand-in script requirement."""\n\nVALUE = 42\n'


def write_wheel(
    folder: Path,
    name: str = DEMO_PACKAGE,
    version: str = "1.0",
    files: dict[str, str] | None = None,
    tag: str = "py3-none-any",
) -> Path:
    """A wheel of `name` holding `files` (default: `<name>/__init__.py`), as pip would accept it."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    members = {
        **(files if files is not None else {f"{name}/__init__.py": DEMO_MODULE}),
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: {tag}\n"
        ),
    }
    records = [
        f"{path},sha256={_digest(text.encode())},{len(text.encode())}"
        for path, text in members.items()
    ]
    members[f"{info}/RECORD"] = "\n".join([*records, f"{info}/RECORD,,"]) + "\n"
    wheel = folder / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in members.items():
            archive.writestr(path, text)
    return wheel


def offline_pip(monkeypatch: pytest.MonkeyPatch, links: Path, cache: Path) -> None:
    """pip finds packages only among the wheels in `links`; lambdafan caches under `cache`."""
    links.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    # No pip config files either: they may name indexes, find-links or constraints of their own.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv(CACHE_ENV, str(cache))


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
