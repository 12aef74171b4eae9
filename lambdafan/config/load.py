"""`load_config`: a config file read, validated, and its problems made one `ConfigError`, one
line per problem."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from lambdafan.config.errors import ConfigError, kind
from lambdafan.config.messages import problems
from lambdafan.config.schema import CONFIG_DIR_CONTEXT, SCRIPTS_UNCHECKED_CONTEXT, Config
from lambdafan.config.yaml_loader import read_yaml


def load_config(path: Path, *, check_scripts: bool = True) -> Config:
    """Read, parse and validate a config file; problems raise a `ConfigError` naming each.
    `check_scripts=False` takes the scripts' entries as they are, without reading the files."""
    data = read_yaml(path)
    if data is None:
        raise ConfigError(f"{path}: config file is empty (see config.example.yaml)")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of keys (fleet, home_region, accounts, ...), "
            f"got {kind(data)}"
        )
    try:
        return Config.model_validate(
            data,
            context={
                CONFIG_DIR_CONTEXT: path.parent.resolve(),
                SCRIPTS_UNCHECKED_CONTEXT: not check_scripts,
            },
        )
    except ValidationError as exc:
        raise ConfigError.of(path, problems(exc)) from exc
