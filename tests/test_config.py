"""The config loader: a good file becomes FleetSettings, a bad one a one-line, pointed error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lambda_src import scripts as script_contract
from lambda_src.settings import AccountRef, FleetSettings, NotifySettings, ScriptRef
from lambdafan.config import Config, ConfigError, load_config
from lambdafan.schedule import schedule_problem

REPO = Path(__file__).resolve().parent.parent
SHIPPED_BUILTINS = ("ec2_instances", "s3_buckets", "iam_users_without_mfa", "lambda_runtimes")
GOOD_SCRIPT = "def collect(session, region, account):\n    yield {'ok': True}\n"


@pytest.fixture
def builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
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


# --- good configs ------------------------------------------------------------------------------


def test_example_config_loads_with_the_shipped_scripts() -> None:
    missing = [n for n in SHIPPED_BUILTINS if n not in script_contract.builtin_scripts()]
    assert not missing, f"built-in scripts not written yet: {missing}"

    config = load_config(REPO / "config.example.yaml")

    assert config.config_dir == REPO
    assert config.schedule == "cron(0 6 * * ? *)"
    assert config.functions.worker.memory == 1024
    assert config.functions.director.timeout == 300
    assert config.results.point_in_time_recovery is False
    settings = config.to_settings()
    assert settings.fleet == "acme-inventory"
    assert settings.home_region == "us-east-1"
    assert settings.regions == ("us-east-1", "eu-west-1")
    assert settings.organization is False
    assert AccountRef(id="012345678901", name="staging") in settings.accounts
    assert all(len(a.id) == 12 for a in settings.accounts)
    assert [s.name for s in settings.scripts] == list(SHIPPED_BUILTINS)
    assert all(Path(s.path).is_absolute() and Path(s.path).is_file() for s in settings.scripts)
    assert settings.notify.email_recipients == ("team@example.com",)
    assert FleetSettings.from_dict(yaml.safe_load(settings.to_json())) == settings


def test_to_settings_carries_every_setting(tmp_path: Path, builtins: Path) -> None:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "mine.py").write_text(GOOD_SCRIPT)
    path = write(
        tmp_path,
        """
fleet: acme-prod
home_region: eu-west-1
schedule: rate(1 day)
accounts:
  list:
    - "111111111111"
    - {id: "012345678901", name: staging}
  organization: {enabled: true, ous: [ou-ab12-cdef5678, r-ab12]}
  exclude: ["333333333333"]
regions: all
member_role: {name: audit-role, external_id: s3cret-id, session_duration: 900}
scripts: [s3_buckets, checks/mine.py]
results: {ttl_days: 7, point_in_time_recovery: true}
functions:
  worker: {memory: 2048}
notify:
  slack: {webhook_parameter: /lf/slack}
  email: {sender: a@example.com, recipients: [b@example.com, c@example.com]}
  sns: {topic_arn: "arn:aws:sns:eu-west-1:111111111111:runs"}
""",
    )

    config = load_config(path)

    assert config.schedule == "rate(1 day)"
    assert config.functions.worker.memory == 2048
    assert config.functions.worker.timeout == 900  # the worker's default, not the generic one
    assert config.functions.notifier.timeout == 60
    assert config.results.point_in_time_recovery is True
    assert config.to_settings() == FleetSettings(
        fleet="acme-prod",
        home_region="eu-west-1",
        scripts=(
            ScriptRef(name="s3_buckets", path=str(builtins / "s3_buckets.py")),
            ScriptRef(name="mine", path=str(tmp_path / "checks" / "mine.py")),
        ),
        accounts=(
            AccountRef(id="111111111111", name="111111111111"),
            AccountRef(id="012345678901", name="staging"),
        ),
        organization=True,
        organization_ous=("ou-ab12-cdef5678", "r-ab12"),
        exclude_accounts=("333333333333",),
        regions=None,
        member_role="audit-role",
        external_id="s3cret-id",
        session_duration=900,
        ttl_days=7,
        notify=NotifySettings(
            slack_webhook_parameter="/lf/slack",
            email_sender="a@example.com",
            email_recipients=("b@example.com", "c@example.com"),
            sns_topic_arn="arn:aws:sns:eu-west-1:111111111111:runs",
        ),
    )


def test_defaults_and_empty_sections(tmp_path: Path, builtins: Path) -> None:
    config = load_config(write(tmp_path, with_(notify=None, results=None, functions=None)))

    assert config.schedule == "cron(0 6 * * ? *)"
    assert config.regions is None
    assert config.functions.director.memory == 256
    settings = config.to_settings()
    assert settings.regions is None
    assert settings.member_role == "lambdafan-member"
    assert settings.session_duration == 3600
    assert settings.ttl_days == 30
    assert settings.notify == NotifySettings()


def test_null_schedule_disables_it(tmp_path: Path, builtins: Path) -> None:
    assert load_config(write(tmp_path, with_(schedule=None))).schedule is None


def test_organization_alone_is_enough(tmp_path: Path, builtins: Path) -> None:
    config = load_config(write(tmp_path, with_(accounts={"organization": {"enabled": True}})))
    assert config.to_settings().organization is True
    assert config.to_settings().accounts == ()


def test_relative_script_path_is_resolved_against_the_config_folder(
    tmp_path: Path, builtins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    (project / "scripts" / "my_check.py").write_text(GOOD_SCRIPT)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path = write(project, with_(scripts=["scripts/my_check.py"]))

    config = load_config(path)

    assert config.config_dir == project
    assert config.to_settings().scripts == (
        ScriptRef(name="my_check", path=str(project / "scripts" / "my_check.py")),
    )
    # The same file next to the cwd would not be found: resolution ignores the cwd.
    monkeypatch.chdir(project)
    other = tmp_path / "other"
    other.mkdir()
    message = error(write(other, with_(scripts=["scripts/my_check.py"])))
    assert "scripts[0]: scripts/my_check.py: file not found" in message
    assert str(other / "scripts" / "my_check.py") in message


# --- file-level problems -----------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert error(path) == f"{path}: config file not found"


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


# --- keys --------------------------------------------------------------------------------------


def test_unknown_top_level_key(tmp_path: Path, builtins: Path) -> None:
    data = base()
    data["acounts"] = data.pop("accounts")
    path = write(tmp_path, data)
    message = error(path)
    assert message.startswith(
        f"{path}: unknown key 'acounts' (expected one of: fleet, home_region, schedule, accounts,"
    )
    assert "notify)" in message
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


def test_unknown_function_setting(tmp_path: Path, builtins: Path) -> None:
    path = write(tmp_path, with_(functions={"worker": {"mem": 512}}))
    assert error(path) == (
        f"{path}: functions.worker: unknown key 'mem' (expected one of: memory, timeout)"
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


# --- accounts ----------------------------------------------------------------------------------


def test_bad_account_id_string(tmp_path: Path, builtins: Path) -> None:
    path = write(
        tmp_path, with_(accounts={"list": ["111111111111"], "exclude": ["1", "2", "12345"]})
    )
    assert error(path) == (
        f"{path}: accounts.exclude[0]: '1' is not a 12-digit account id (and 2 more problems)"
    )
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


def test_duplicate_account(tmp_path: Path, builtins: Path) -> None:
    accounts = {"list": ["111111111111", "222222222222", {"id": "111111111111", "name": "x"}]}
    path = write(tmp_path, with_(accounts=accounts))
    assert error(path) == (
        f"{path}: accounts.list[2]: account '111111111111' is already listed at accounts.list[0]"
    )


@pytest.mark.parametrize("accounts", [{}, {"list": []}, {"organization": {"enabled": False}}])
def test_no_accounts_at_all(tmp_path: Path, builtins: Path, accounts: dict[str, Any]) -> None:
    path = write(tmp_path, with_(accounts=accounts))
    assert error(path) == f"{path}: accounts: name accounts in `list` or enable `organization`"


def test_everything_excluded(tmp_path: Path, builtins: Path) -> None:
    accounts = {"list": ["111111111111"], "exclude": ["111111111111"]}
    path = write(tmp_path, with_(accounts=accounts))
    assert error(path) == (
        f"{path}: accounts.exclude: excludes every account in `list`, so nothing would run"
    )


def test_ous_need_the_organization(tmp_path: Path, builtins: Path) -> None:
    accounts = {"list": ["111111111111"], "organization": {"ous": ["ou-ab12-cdef5678"]}}
    path = write(tmp_path, with_(accounts=accounts))
    assert error(path) == (
        f"{path}: accounts.organization.ous: has no effect unless organization.enabled is true"
    )


def test_bad_ou_id(tmp_path: Path, builtins: Path) -> None:
    accounts = {"organization": {"enabled": True, "ous": ["r-ab12", "ou-x"]}}
    path = write(tmp_path, with_(accounts=accounts))
    assert error(path) == (
        f"{path}: accounts.organization.ous[1]: 'ou-x' is not an OU id (ou-xxxx-xxxxxxxx) "
        "or root id (r-xxxx)"
    )


# --- regions -----------------------------------------------------------------------------------


def test_all_regions_is_none(tmp_path: Path, builtins: Path) -> None:
    config = load_config(write(tmp_path, with_(regions="all")))
    assert config.regions is None
    assert config.to_settings().regions is None


def test_other_partitions_are_known(tmp_path: Path, builtins: Path) -> None:
    config = load_config(write(tmp_path, with_(regions=["us-gov-west-1", "cn-north-1"])))
    assert config.to_settings().regions == ("us-gov-west-1", "cn-north-1")


def test_bad_region(tmp_path: Path, builtins: Path) -> None:
    path = write(tmp_path, with_(regions=["us-east-1", "us-east-9"]))
    assert error(path) == f"{path}: regions[1]: 'us-east-9' is not an AWS region"
    path = write(tmp_path, with_(home_region="europe"))
    assert error(path) == f"{path}: home_region: 'europe' is not an AWS region"


@pytest.mark.parametrize(
    ("regions", "problem"),
    [
        ("everywhere", "use `all` or a list of region names, got the text 'everywhere'"),
        (None, "use `all` or a list of region names, got nothing (null)"),
        ([], "must not be empty"),
        (["eu-west-1", "eu-west-1"], None),
    ],
)
def test_regions_must_be_all_or_a_list(
    tmp_path: Path, builtins: Path, regions: object, problem: str | None
) -> None:
    path = write(tmp_path, with_(regions=regions))
    expected = f"regions: {problem}" if problem else "regions[1]: 'eu-west-1' is listed twice"
    assert error(path) == f"{path}: {expected}"


# --- scripts -----------------------------------------------------------------------------------


def test_missing_script_file(tmp_path: Path, builtins: Path) -> None:
    path = write(tmp_path, with_(scripts=["ec2_instances", "scripts/x.py"]))
    assert error(path) == (
        f"{path}: scripts[1]: scripts/x.py: file not found "
        f"(looked for {tmp_path / 'scripts' / 'x.py'})"
    )


def test_unknown_builtin_lists_the_available_ones(tmp_path: Path, builtins: Path) -> None:
    path = write(tmp_path, with_(scripts=["ec2_instance"]))
    assert error(path) == (
        f"{path}: scripts[0]: 'ec2_instance' is not a built-in script "
        "(available: ec2_instances, s3_buckets); a path to your own script must end in .py"
    )


def test_script_without_collect(tmp_path: Path, builtins: Path) -> None:
    script = tmp_path / "lazy.py"
    script.write_text("import boto3\n\ndef gather(session, region, account):\n    return []\n")
    path = write(tmp_path, with_(scripts=["s3_buckets", "lazy.py"]))
    message = error(path)
    assert message.startswith(f"{path}: scripts[1]: {script}:1: ")
    assert "`collect(session, region, account)`" in message


def test_script_with_wrong_collect_signature(tmp_path: Path, builtins: Path) -> None:
    script = tmp_path / "short.py"
    script.write_text("\n\ndef collect(session):\n    return []\n")
    message = error(write(tmp_path, with_(scripts=["short.py"])))
    assert f"scripts[0]: {script}:3: `collect` must take (session, region, account)" in message


def test_script_with_syntax_error(tmp_path: Path, builtins: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("def collect(session, region, account):\n    yield {\n\nx = )\n")
    message = error(write(tmp_path, with_(scripts=["broken.py"])))
    assert message.startswith(f"{tmp_path / 'lambdafan.yaml'}: scripts[0]: {script}:")
    line = message.split(f"{script}:")[1].split(":")[0]
    assert line.isdigit()
    assert ": syntax error: " in message


def test_script_names_must_be_unique(tmp_path: Path, builtins: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "s3_buckets.py").write_text(GOOD_SCRIPT)
    path = write(tmp_path, with_(scripts=["s3_buckets", "ec2_instances", "mine/s3_buckets.py"]))
    assert error(path) == (
        f"{path}: scripts[2]: two scripts are named 's3_buckets' (scripts[0] and this one); "
        "script names come from file names and must be unique"
    )


def test_script_names_fit_table_keys(tmp_path: Path, builtins: Path) -> None:
    (tmp_path / "my#check.py").write_text(GOOD_SCRIPT)
    path = write(tmp_path, with_(scripts=["my#check.py"]))
    assert error(path) == (
        f"{path}: scripts[0]: my#check.py: script file names may use only letters, digits, "
        "'_' and '-'"
    )


def test_scripts_must_not_be_empty(tmp_path: Path, builtins: Path) -> None:
    path = write(tmp_path, with_(scripts=[]))
    assert error(path) == f"{path}: scripts: must not be empty"


# --- schedule ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule",
    [
        "cron(0 6 * * ? *)",
        "cron(0/15 8-17 ? * MON-FRI *)",
        "cron(0 12 L * ? 2030)",
        "cron(0 10 ? * 6#3 *)",
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(1 hour)",
        "rate(12 hours)",
        "rate(7 days)",
    ],
)
def test_valid_schedules(schedule: str) -> None:
    assert schedule_problem(schedule) is None


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


# --- member role, results, functions, notify ---------------------------------------------------


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
            {"fleet": "a-fleet-name-that-goes-on-for-far-too-long"},
            "fleet: 'a-fleet-name-that-goes-on-for-far-too-long' is not a valid fleet name "
            "(3-40 lowercase letters, digits or hyphens, starting with a letter)",
        ),
    ],
)
def test_bad_values(tmp_path: Path, builtins: Path, changes: dict[str, Any], expected: str) -> None:
    path = write(tmp_path, with_(**changes))
    assert error(path) == f"{path}: {expected}"


def test_config_built_in_code_resolves_scripts_against_cwd(
    tmp_path: Path, builtins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.py").write_text(GOOD_SCRIPT)
    monkeypatch.chdir(tmp_path)
    config = Config.model_validate(with_(scripts=["mine.py"]))
    assert config.config_dir == tmp_path
    assert config.to_settings().scripts == (ScriptRef("mine", str(tmp_path / "mine.py")),)
