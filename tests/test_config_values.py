"""Single config values: account ids, OU ids, regions, the schedule, sizes, names and ARNs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lambda_src.settings import AccountRef
from lambdafan.config import load_config
from tests.config_support import error, stand_in_builtins, with_, write
from tests.test_config_messages import every_problem


@pytest.fixture
def builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return stand_in_builtins(tmp_path, monkeypatch)


def test_bad_account_id_string(tmp_path: Path, builtins: Path) -> None:
    path = write(
        tmp_path, with_(accounts={"list": ["111111111111"], "exclude": ["1", "2", "12345"]})
    )
    assert every_problem(path) == [
        f"accounts.exclude[{i}]: {value!r} is not a 12-digit account id"
        for i, value in enumerate(["1", "2", "12345"])
    ]
    path = write(tmp_path, with_(accounts={"list": ["111111111111", {"id": "12345"}]}))
    assert error(path) == f"{path}: accounts.list[1].id: '12345' is not a 12-digit account id"


def test_short_account_id_in_the_short_form_points_at_the_list_item(
    tmp_path: Path, builtins: Path
) -> None:
    path = write(tmp_path, with_(accounts={"list": ["111111111111", "12345"]}))
    assert error(path) == f"{path}: accounts.list[1]: '12345' is not a 12-digit account id"


def test_unquoted_account_ids(tmp_path: Path, builtins: Path) -> None:
    text = "fleet: acme\nhome_region: us-east-1\nscripts: [ec2_instances]\naccounts:\n  list:\n"
    # A 12-digit number is what the user meant: accept it.
    config = load_config(write(tmp_path, text + "    - 111111111111\n"))
    assert config.to_settings().accounts == (AccountRef("111111111111", "111111111111"),)

    path = write(tmp_path, text + "    - 12345\n")
    assert error(path) == (
        f"{path}: accounts.list[0]: 12345 is not a 12-digit account id "
        "(quote account ids in YAML: '012345678901')"
    )

    # YAML 1.1 reads a leading 0 followed by octal digits as an octal number.
    path = write(tmp_path, text + "    - id: 011111111111\n")
    assert error(path) == (
        f"{path}: accounts.list[0].id: 011111111111 is not a 12-digit account id: YAML read it "
        "as the number 1227133513 (quote account ids in YAML: '012345678901')"
    )


def test_bad_ou_id(tmp_path: Path, builtins: Path) -> None:
    accounts = {"organization": {"enabled": True, "ous": ["r-ab12", "ou-x"]}}
    path = write(tmp_path, with_(accounts=accounts))
    assert error(path) == (
        f"{path}: accounts.organization.ous[1]: 'ou-x' is not an OU id (ou-xxxx-xxxxxxxx) "
        "or root id (r-xxxx)"
    )


def test_other_partitions_are_known(tmp_path: Path, builtins: Path) -> None:
    config = load_config(write(tmp_path, with_(regions=["us-gov-west-1", "cn-north-1"])))
    assert config.to_settings().regions == ("us-gov-west-1", "cn-north-1")


def test_bad_region(tmp_path: Path, builtins: Path) -> None:
    path = write(tmp_path, with_(regions=["us-east-1", "us-east-9"]))
    assert error(path) == f"{path}: regions[1]: 'us-east-9' is not an AWS region"
    path = write(tmp_path, with_(home_region="europe"))
    assert error(path) == f"{path}: home_region: 'europe' is not an AWS region"


@pytest.mark.parametrize(
    ("schedule", "problem"),
    [
        ("cron(0 6 * * *)", "cron needs 6 fields, got 5"),
        (
            "cron(0 6 * * * *)",
            "exactly one of day-of-month and day-of-week must be '?', got '*' and '*'",
        ),
        (
            "cron(0 6 ? * ? *)",
            "exactly one of day-of-month and day-of-week must be '?', got '?' and '?'",
        ),
        ("cron(? 6 * * ? *)", "minutes field '?' is not valid"),
        # EventBridge rejects these, so config must too, before anything is deployed.
        ("cron(99 99 * * ? *)", "minutes 99 is outside 0-59"),
        ("cron(0 6 32 13 ? *)", "day-of-month 32 is outside 1-31"),
        ("cron(0 6 ? * FOO *)", "day-of-week 'FOO' is not a number 1-7 or a name SUN-SAT"),
        (
            "rate(99999999999999999999 days)",
            "rate value 99999999999999999999 is too large: lambdafan caps the interval at "
            "2147483647 minutes (a 32-bit int), so at most 1491308 days",
        ),
        ("rate(5 minute)", "use 'minutes' with 5: rate(5 minutes)"),
        ("rate(1 hours)", "use 'hour' with 1: rate(1 hour)"),
        ("rate(0 days)", "rate must be at least 1"),
        ("rate(2 weeks)", "rate unit 'weeks' is not one of minute(s), hour(s), day(s)"),
        ("rate(often)", "rate needs a whole number and a unit, like rate(5 minutes)"),
        ("daily", "use cron(minutes hours day-of-month month day-of-week year) or rate(N unit)"),
    ],
)
def test_bad_schedule(tmp_path: Path, builtins: Path, schedule: str, problem: str) -> None:
    path = write(tmp_path, with_(schedule=schedule))
    assert error(path).startswith(
        f"{path}: schedule: {schedule!r} is not a valid EventBridge schedule: {problem}"
    )


@pytest.mark.parametrize("seconds", [899, 3601])
def test_bad_session_duration(tmp_path: Path, builtins: Path, seconds: int) -> None:
    path = write(tmp_path, with_(member_role={"session_duration": seconds}))
    assert error(path) == (
        f"{path}: member_role.session_duration: must be between 900 and 3600 seconds, got {seconds}"
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"member_role": {"name": "bad role!"}},
            "member_role.name: 'bad role!' is not a valid IAM role name",
        ),
        (
            {"member_role": {"external_id": "x"}},
            "member_role.external_id: 'x' is not a valid external id (2-1224 characters)",
        ),
        (
            {"results": {"ttl_days": 0}},
            "results.ttl_days: must be between 1 and 3650 days, got 0",
        ),
        (
            {"functions": {"director": {"memory": 64}}},
            "functions.director.memory: must be between 128 and 10240 MB, got 64",
        ),
        (
            {"functions": {"notifier": {"timeout": 901}}},
            "functions.notifier.timeout: must be between 1 and 900 seconds, got 901",
        ),
        (
            {"notify": {"slack": {"webhook_parameter": "slack-webhook"}}},
            "notify.slack.webhook_parameter: 'slack-webhook' is not an SSM parameter name "
            "like /lambdafan/slack-webhook",
        ),
        (
            {"notify": {"email": {"sender": "a@example.com", "recipients": []}}},
            "notify.email.recipients: must not be empty",
        ),
        (
            {"notify": {"email": {"sender": "ops", "recipients": ["b@example.com"]}}},
            "notify.email.sender: 'ops' is not an email address like ops@example.com",
        ),
        (
            {"notify": {"sns": {"topic_arn": "arn:aws:sns:us-east-1:1234:t"}}},
            "notify.sns.topic_arn: 'arn:aws:sns:us-east-1:1234:t' is not an SNS topic ARN "
            "like arn:aws:sns:us-east-1:111111111111:lambdafan",
        ),
        (
            {
                "metrics": {
                    "wavefront": {"url": "http://acme.wavefront.com", "token_parameter": "/t"}
                }
            },
            "metrics.wavefront.url: 'http://acme.wavefront.com' must use https (http is allowed "
            "only to 127.0.0.1 or localhost, for tests)",
        ),
        (
            {"metrics": {"wavefront": {"url": "acme.wavefront.com", "token_parameter": "/t"}}},
            "metrics.wavefront.url: 'acme.wavefront.com' is not a Wavefront URL like "
            "https://example.wavefront.com",
        ),
        (
            {"metrics": {"wavefront": {"url": "https://a:s3cret@x.io", "token_parameter": "/t"}}},
            "metrics.wavefront.url: must not hold a user or password: "
            "the token goes in token_parameter",
        ),
        (
            {"metrics": {"wavefront": {"url": "https://x.io", "token_parameter": "wf-token"}}},
            "metrics.wavefront.token_parameter: 'wf-token' is not an SSM parameter name like "
            "/lambdafan/slack-webhook",
        ),
        (
            {"metrics": {"wavefront": {"token_parameter": "/t"}}},
            "metrics.wavefront.url: required key missing",
        ),
        (
            {"fleet": "a-fleet-name-that-goes-on-for-far-too-long"},
            "fleet: 'a-fleet-name-that-goes-on-for-far-too-long' is not a valid fleet name "
            "(3-40 lowercase letters, digits or hyphens, starting with a letter)",
        ),
    ],
)
def test_bad_values(tmp_path: Path, builtins: Path, changes: dict[str, Any], expected: str) -> None:
    path = write(tmp_path, with_(**changes))
    assert error(path) == f"{path}: {expected}"
