"""Config files that are not a config at all: missing, unreadable YAML, duplicate keys, empty,
or not a mapping. Each is one line naming the file (and the line, where YAML knows it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.config_support import error, stand_in_builtins, with_, write


@pytest.fixture
def builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return stand_in_builtins(tmp_path, monkeypatch)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert error(path) == (
        f"{path}: config file not found (name one with -c FILE or LAMBDAFAN_CONFIG; "
        "`lambdafan demo --keep` writes a working example)"
    )


def test_path_is_reported_as_given(
    tmp_path: Path, builtins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, with_(fleet="X"))
    assert error(Path("lambdafan.yaml")).startswith("lambdafan.yaml: fleet: 'X' is not a valid")


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "fleet: acme\nhome_region: us-east-1\naccounts:\n  list: [a\nx: : y\n")
    message = error(path)
    assert message.startswith(f"{path}: line ")
    assert "invalid YAML: " in message

    path = write(tmp_path, "fleet: acme\nhome_region: us-east-1\n  scripts: x\n")
    assert error(path) == f"{path}: line 3: invalid YAML: mapping values are not allowed here"


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path = write(tmp_path, "fleet: acme\nregions: all\nhome_region: us-east-1\nregions: all\n")
    assert error(path) == f"{path}: line 4: invalid YAML: duplicate key 'regions'"


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    assert error(path) == f"{path}: config file is empty (see config.example.yaml)"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- fleet: acme\n")
    assert error(path) == (
        f"{path}: expected a mapping of keys (fleet, home_region, accounts, ...), got a list"
    )
