"""How validation errors read: the key path, then the problem in the user's terms; unknown
keys first, required keys missing, wrong types, and every problem on a line of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lambdafan.config import ConfigError, load_config
from tests.config_support import GOOD_SCRIPT, base, error, stand_in_builtins, with_, write


def every_problem(path: Path) -> list[str]:
    """The problems of a config with several, checking how the message lists them."""
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = list(caught.value.problems)
    assert str(caught.value).splitlines() == [
        f"{path}: {len(problems)} problems:",
        *(f"  {problem}" for problem in problems),
    ]
    return problems


@pytest.fixture
def builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return stand_in_builtins(tmp_path, monkeypatch)


def test_unknown_top_level_key(tmp_path: Path, builtins: Path) -> None:
    data = base()
    data["acounts"] = data.pop("accounts")
    path = write(tmp_path, data)
    typo, missing = every_problem(path)
    assert typo.startswith(
        "unknown key 'acounts' (expected one of: fleet, home_region, schedule, "
        "schedule_overlap, accounts,"
    )
    assert typo.endswith("notify, metrics)")
    # The missing `accounts` is the typo's consequence: listed after it.
    assert missing == "accounts: required key missing"


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


def test_several_problems_are_each_on_a_line(tmp_path: Path, builtins: Path) -> None:
    path = write(tmp_path, with_(fleet="Bad Name", home_region="mars-1"))
    fleet, region = every_problem(path)
    assert fleet.startswith("fleet: 'Bad Name' is not a valid fleet name")
    assert region == "home_region: 'mars-1' is not an AWS region"
    # Unknown keys come first whatever their position: a typo explains later problems.
    path = write(tmp_path, with_(fleet="Bad Name", home_region="mars-1", ttl=3))
    typo, *others = every_problem(path)
    assert typo.startswith("unknown key 'ttl' (expected one of: fleet, ")
    assert [line.split(":")[0] for line in others] == ["fleet", "home_region"]


def test_every_bad_entry_of_a_list_is_named(tmp_path: Path, builtins: Path) -> None:
    (tmp_path / "mine.py").write_text(GOOD_SCRIPT)
    data = with_(
        scripts=["gone.py", "mine.py", "also_gone.py", "mine.py"],
        regions=["us-east-1", "eu-west-1", "us-east-1", "eu-west-1"],
        accounts={"list": ["111111111111", "111111111111", "111111111111"]},
        script_requirements=["pyyaml", "PyYAML==6.0.2", "requests", "pyyaml>=6"],
    )
    problems = every_problem(write(tmp_path, data))
    assert [p.split(": ")[0] for p in problems] == [
        "accounts.list[1]", "accounts.list[2]", "regions[2]", "regions[3]",
        "scripts[0]", "scripts[2]", "scripts[3]",
        "script_requirements[1]", "script_requirements[3]",
    ]  # fmt: skip
    assert "two scripts are named 'mine' (scripts[1] and this one)" in problems[6]


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
