"""Helpers for the config tests: a stand-in built-in scripts folder and config files to load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lambda_src import scripts as script_contract
from lambdafan.config import ConfigError, load_config

GOOD_SCRIPT = "def collect(session, region, account):\n    yield {'ok': True}\n"


def stand_in_builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in built-in scripts folder, so these tests don't depend on the shipped examples."""
    folder = tmp_path / "builtin_scripts"
    folder.mkdir()
    for name in ("ec2_instances", "s3_buckets"):
        (folder / f"{name}.py").write_text(GOOD_SCRIPT)
    (folder / "_helpers.py").write_text("")
    monkeypatch.setattr(script_contract, "BUILTIN_DIR", folder)
    return folder


def base() -> dict[str, Any]:
    return {
        "fleet": "acme",
        "home_region": "us-east-1",
        "accounts": {"list": ["111111111111"]},
        "scripts": ["ec2_instances"],
    }


def write(folder: Path, content: dict[str, Any] | str, name: str = "lambdafan.yaml") -> Path:
    path = folder / name
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    path.write_text(text)
    return path


def error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def with_(**changes: Any) -> dict[str, Any]:
    data = base()
    data.update(changes)
    return data
