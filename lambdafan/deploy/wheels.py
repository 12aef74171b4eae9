"""Reading wheels: the files they install, and the top-level modules those files provide."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from lambdafan.config.values import project_name
from lambdafan.errors import LambdafanError

# A wheel's `<name>.data/<scheme>/` folders: these two install beside the packages; the others
# (scripts, headers, data) go elsewhere in a real install and nothing imports them.
_IMPORTABLE_SCHEMES = ("purelib", "platlib")
_EXTENSION_SUFFIXES = (".so", ".pyd")


def distribution(wheel: Path) -> str:
    """The canonical project name of a wheel, from its file name (`PyYAML-6.0-...whl`: pyyaml)."""
    return project_name(wheel.name.split("-", 1)[0])


def wheel_files(wheels: Sequence[Path]) -> dict[str, bytes]:
    """Every file the wheels install into site-packages, by relative POSIX path.

    Bytecode is left out (the runtime compiles its own, and .pyc files embed source mtimes);
    a later wheel's file replaces an earlier one's, in file-name order, so the result depends
    only on the wheels.
    """
    files: dict[str, bytes] = {}
    for wheel in sorted(wheels, key=lambda w: w.name):
        try:
            with zipfile.ZipFile(wheel) as archive:
                for info in archive.infolist():
                    target = None if info.is_dir() else _install_path(wheel, info.filename)
                    if target is not None:
                        files[target] = archive.read(info)
        except (OSError, zipfile.BadZipFile) as exc:
            raise LambdafanError(f"{wheel}: cannot read this wheel ({exc})") from None
    return files


def wheel_modules(wheel: Path) -> frozenset[str]:
    """The top-level modules and packages a wheel installs (`yaml` and `_yaml` for PyYAML)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
    except (OSError, zipfile.BadZipFile):
        return frozenset()  # unreadable: vendoring reports it; here it just provides nothing
    installed = (_install_path(wheel, name) for name in names)
    return top_level_modules(path for path in installed if path is not None)


def top_level_modules(paths: Iterable[str]) -> frozenset[str]:
    """The importable top-level names among installed file paths."""
    modules = set()
    for path in paths:
        first, *rest = path.split("/")
        if rest:
            if not first.endswith((".dist-info", ".data")) and first.isidentifier():
                modules.add(first)
        elif first.endswith(".py") or first.endswith(_EXTENSION_SUFFIXES):
            modules.add(first.split(".", 1)[0])
    return frozenset(modules)


def _install_path(wheel: Path, name: str) -> str | None:
    """Where a wheel member installs, relative to site-packages; None: not installed by us."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name:
        raise LambdafanError(f"{wheel}: refusing the unsafe path {name!r} in this wheel")
    if "__pycache__" in path.parts or path.suffix == ".pyc":
        return None
    if path.parts[0].endswith(".data"):
        if len(path.parts) < 3 or path.parts[1] not in _IMPORTABLE_SCHEMES:
            return None
        path = PurePosixPath(*path.parts[2:])
    return path.as_posix()
