"""`script list`: the fleet's scripts and the built-in ones, described without importing them."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from lambda_src.scripts import BUILTIN_DIR, ScriptError, builtin_scripts, check_script
from lambdafan.config import Config, ConfigError, load_config


def optional_config(path: Path, *, explicit: bool) -> Config | None:
    """The config if there is one: a missing default file is None, a named one must exist.

    A config that exists but is broken raises `ConfigError`.
    """
    if not explicit and not path.exists():
        return None
    return load_config(path)


def config_despite_its_scripts(path: Path, problem: ConfigError) -> Config:
    """The config that failed with `problem`, when only its scripts are at fault (a script
    mid-port must not stop another from being tried); else `problem` is raised."""
    try:
        return load_config(path, check_scripts=False)
    except ConfigError:
        raise problem from None


@dataclass(frozen=True)
class ScriptInfo:
    """One script as `script list` shows it."""

    name: str
    scope: str
    source: str  # "built-in", or the path as written in the config
    summary: str  # first line of the module docstring
    configured: bool


def list_scripts(config: Config | None) -> list[ScriptInfo]:
    """The config's scripts in config order, then the built-ins it does not use."""
    infos: list[ScriptInfo] = []
    used: set[Path] = set()
    if config is not None:
        for entry, path in zip(config.scripts, config.script_paths(), strict=True):
            used.add(path.resolve())
            infos.append(describe_script(path, entry, configured=True))
    for path in builtin_scripts().values():
        if path.resolve() not in used:
            infos.append(describe_script(path, "", configured=False))
    return infos


def describe_script(path: Path, entry: str, *, configured: bool) -> ScriptInfo:
    """Name, scope, source and summary of a script file, without importing it."""
    builtin = path.resolve().parent == BUILTIN_DIR
    source = "built-in" if builtin else entry or str(path)
    try:
        scope: str = check_script(path)
        summary = _summary(path)
    except ScriptError as exc:
        # Listing should still show the other scripts; the row says what is wrong.
        scope, summary = "broken", str(exc)
    return ScriptInfo(path.stem, scope, source, summary, configured)


def _summary(path: Path) -> str:
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return docstring.strip().splitlines()[0] if docstring.strip() else ""
