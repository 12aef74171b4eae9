"""How validation errors read: the key path, then the problem in the user's terms; unknown
keys first, required keys missing, wrong types, and a count of the other problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.config_support import base, error, stand_in_builtins, with_, write


@pytest.fixture
def builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return stand_in_builtins(tmp_path, monkeypatch)


def test_unknown_top_level_key(tmp_path: Path, builtins: Path) -> None:
    data = base()
    data["acounts"] = data.pop("accounts")
    path = write(tmp_path, data)
    message = error(path)
    assert message.startswith(
        f"{path}: unknown key 'acounts' (expected one of: fleet, home_region, schedule, "
        "schedule_overlap, accounts,"
    )
    assert "notify, metrics)" in message
    # The missing `accounts` is a second problem, counted but not spelled out.
    assert message.endswith(" (and 1 more problem)")


@pytest.mark.parametrize(
    ("accounts", "where"),
    [
        ({"lst": ["111111111111"]}, "accounts: unknown key 'lst' (expected one of: list, "),
        (
            {"list": [{"id": "111111111111", "nmae": "prod"}]},
            "accounts.list[0]: unknown key 'nmae' (expected one of: id, name)",
        ),
        (
            {"list": ["111111111111"], "organization": {"enable": True}},
            "accounts.organization: unknown key 'enable' (expected one of: enabled, ous)",
        ),
    ],
)
def test_unknown_nested_key(
    tmp_path: Path, builtins: Path, accounts: dict[str, Any], where: str
) -> None:
    path = write(tmp_path, with_(accounts=accounts))
    assert error(path).startswith(f"{path}: {where}")


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        (
            {"metrics": {"cloudwatch": True}},
            "metrics: unknown key 'cloudwatch' (expected one of: wavefront)",
        ),
        (
            {
                "metrics": {
                    "wavefront": {"url": "https://x.io", "token_parameter": "/t", "token": "x"}
                }
            },
            "metrics.wavefront: unknown key 'token' (expected one of: url, token_parameter)",
        ),
        (
            {"notify": {"only": "changes"}},
            "notify: unknown key 'only' (expected one of: slack, email, sns, only_on)",
        ),
    ],
)
def test_unknown_notify_and_metrics_keys(
    tmp_path: Path, builtins: Path, changes: dict[str, Any], where: str
) -> None:
    path = write(tmp_path, with_(**changes))
    assert error(path) == f"{path}: {where}"


def test_unknown_function_setting(tmp_path: Path, builtins: Path) -> None:
    path = write(tmp_path, with_(functions={"worker": {"mem": 512}}))
    assert error(path) == (
        f"{path}: functions.worker: unknown key 'mem' (expected one of: memory, timeout, "
        "reserved_concurrency)"
    )


@pytest.mark.parametrize("key", ["fleet", "home_region", "accounts", "scripts"])
def test_missing_required_key(tmp_path: Path, builtins: Path, key: str) -> None:
    data = base()
    del data[key]
    path = write(tmp_path, data)
    assert error(path) == f"{path}: {key}: required key missing"


def test_missing_nested_required_key(tmp_path: Path, builtins: Path) -> None:
    path = write(tmp_path, with_(notify={"email": {"sender": "a@example.com"}}))
    assert error(path) == f"{path}: notify.email.recipients: required key missing"


def test_several_problems_report_the_first_and_count_the_rest(
    tmp_path: Path, builtins: Path
) -> None:
    path = write(tmp_path, with_(fleet="Bad Name", home_region="mars-1"))
    message = error(path)
    assert message.startswith(f"{path}: fleet: 'Bad Name' is not a valid fleet name")
    assert message.endswith(" (and 1 more problem)")
    # Unknown keys come first whatever their position: a typo explains later problems.
    path = write(tmp_path, with_(fleet="Bad Name", home_region="mars-1", ttl=3))
    assert error(path).startswith(f"{path}: unknown key 'ttl' (expected one of: fleet, ")
    assert error(path).endswith(" (and 2 more problems)")


def test_wrong_type_says_what_was_expected(tmp_path: Path, builtins: Path) -> None:
    path = write(tmp_path, with_(results={"point_in_time_recovery": "yes please"}))
    assert error(path) == (
        f"{path}: results.point_in_time_recovery: expected true or false, got the text 'yes please'"
    )
    path = write(tmp_path, with_(functions={"worker": {"memory": "lots"}}))
    assert error(path) == (
        f"{path}: functions.worker.memory: expected a whole number, got the text 'lots'"
    )
    path = write(tmp_path, with_(accounts=["111111111111"]))
    assert error(path) == f"{path}: accounts: expected a mapping of keys, got a list"
