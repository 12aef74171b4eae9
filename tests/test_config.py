"""The config schema: a good file becomes FleetSettings; accounts, regions and scripts are
checked as a whole (duplicates, nothing to run, script files and names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lambda_src import scripts as script_contract
from lambda_src.settings import (
    AccountRef,
    FleetSettings,
    NotifySettings,
    ScriptRef,
    WavefrontSettings,
)
from lambdafan.config import Config, ConfigError, load_config
from tests.config_support import GOOD_SCRIPT, error, stand_in_builtins, with_, write
from tests.conftest import cli

REPO = Path(__file__).resolve().parent.parent
SHIPPED_BUILTINS = ("ec2_instances", "s3_buckets", "iam_users_without_mfa", "lambda_runtimes")


@pytest.fixture
def builtins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return stand_in_builtins(tmp_path, monkeypatch)


def test_example_config_loads_with_the_shipped_scripts() -> None:
    missing = [n for n in SHIPPED_BUILTINS if n not in script_contract.builtin_scripts()]
    assert not missing, f"built-in scripts not written yet: {missing}"

    config = load_config(REPO / "config.example.yaml")

    assert config.config_dir == REPO
    assert config.schedule == "cron(0 6 * * ? *)"
    assert config.functions.worker.memory == 1024
    assert config.functions.director.timeout == 300
    assert config.results.point_in_time_recovery is False
    assert (config.results.export, config.results.athena.output_location) == ("none", None)
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
schedule_overlap: allow
accounts:
  list:
    - "111111111111"
    - {id: "012345678901", name: staging}
  organization: {enabled: true, ous: [ou-ab12-cdef5678, r-ab12]}
  exclude: ["333333333333"]
regions: all
member_role: {name: audit-role, external_id: s3cret-id, session_duration: 900}
scripts: [s3_buckets, checks/mine.py]
script_requirements: ["pyyaml==6.0.2", "requests[socks] >=2.31, <3"]
results: {ttl_days: 7, point_in_time_recovery: true}
functions:
  worker: {memory: 2048, timeout: 600, reserved_concurrency: 10}
notify:
  slack: {webhook_parameter: /lf/slack}
  email: {sender: a@example.com, recipients: [b@example.com, c@example.com]}
  sns: {topic_arn: "arn:aws:sns:eu-west-1:111111111111:runs"}
  only_on: changes
metrics:
  wavefront: {url: "https://acme.wavefront.com", token_parameter: /lf/wavefront-token}
""",
    )

    config = load_config(path)

    assert config.schedule == "rate(1 day)"
    assert config.functions.worker.memory == 2048
    assert config.functions.worker.reserved_concurrency == 10
    assert config.functions.notifier.timeout == 60
    assert config.results.point_in_time_recovery is True
    assert config.script_requirements == ["pyyaml==6.0.2", "requests[socks] >=2.31, <3"]
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
        worker_timeout_s=600,
        schedule_overlap="allow",
        notify=NotifySettings(
            slack_webhook_parameter="/lf/slack",
            email_sender="a@example.com",
            email_recipients=("b@example.com", "c@example.com"),
            sns_topic_arn="arn:aws:sns:eu-west-1:111111111111:runs",
            only_on="changes",
        ),
        wavefront=WavefrontSettings(
            url="https://acme.wavefront.com", token_parameter="/lf/wavefront-token"
        ),
    )


def test_defaults_and_empty_sections(tmp_path: Path, builtins: Path) -> None:
    config = load_config(
        write(tmp_path, with_(notify=None, results=None, functions=None, metrics=None))
    )

    assert config.schedule == "cron(0 6 * * ? *)"
    assert config.regions is None
    assert config.functions.director.memory == 256
    assert config.functions.worker.timeout == 900  # the worker's default, not the generic one
    assert config.functions.worker.reserved_concurrency is None
    assert config.schedule_overlap == "skip"
    assert config.script_requirements == []
    settings = config.to_settings()
    assert settings.regions is None
    assert settings.member_role == "lambdafan-member"
    assert settings.session_duration == 3600
    assert settings.ttl_days == 30
    assert settings.notify == NotifySettings()
    assert (settings.notify.only_on, settings.wavefront) == ("always", None)
    assert (settings.worker_timeout_s, settings.schedule_overlap) == (900, "skip")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"functions": {"worker": {"reserved_concurrency": 0}}},
            "functions.worker.reserved_concurrency: must be at least 1, got 0",
        ),
        (
            {"functions": {"worker": {"reserved_concurrency": "5"}}},
            "functions.worker.reserved_concurrency: expected a whole number, got the text '5'",
        ),
        (
            {"functions": {"director": {"reserved_concurrency": 5}}},
            "functions.director: unknown key 'reserved_concurrency' (expected one of: memory, "
            "timeout)",
        ),
        ({"schedule_overlap": "queue"}, "schedule_overlap: must be skip or allow, got 'queue'"),
        (
            {"notify": {"only_on": "sometimes"}},
            "notify.only_on: must be always, changes or failures, got 'sometimes'",
        ),
        ({"notify": {"only_on": None}}, "notify.only_on: expected text, got nothing (null)"),
        ({"schedule_overlap": None}, "schedule_overlap: expected text, got nothing (null)"),
    ],
)
def test_bad_concurrency_and_overlap(
    tmp_path: Path, builtins: Path, changes: dict[str, Any], expected: str
) -> None:
    path = write(tmp_path, with_(**changes))
    assert error(path) == f"{path}: {expected}"


def test_null_reserved_concurrency_is_none(tmp_path: Path, builtins: Path) -> None:
    config = load_config(
        write(tmp_path, with_(functions={"worker": {"reserved_concurrency": None}}))
    )
    assert config.functions.worker.reserved_concurrency is None


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


def test_all_regions_is_none(tmp_path: Path, builtins: Path) -> None:
    config = load_config(write(tmp_path, with_(regions="all")))
    assert config.regions is None
    assert config.to_settings().regions is None


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


def test_config_built_in_code_resolves_scripts_against_cwd(
    tmp_path: Path, builtins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.py").write_text(GOOD_SCRIPT)
    monkeypatch.chdir(tmp_path)
    config = Config.model_validate(with_(scripts=["mine.py"]))
    assert config.config_dir == tmp_path
    assert config.to_settings().scripts == (ScriptRef("mine", str(tmp_path / "mine.py")),)


@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        (["pyyaml", ""], "script_requirements[1]: must not be empty"),
        (
            ["--index-url=https://example.com/simple"],
            "script_requirements[0]: '--index-url=https://example.com/simple' is a pip option; "
            "list only requirements like 'pyyaml==6.0.2' (set an index or proxy in pip's own "
            "config)",
        ),
        (["-e ."], "script_requirements[0]: '-e .' is a pip option; list only requirements"),
        (
            ["boto3==1.35.0"],
            "script_requirements[0]: boto3 is already in the Worker: Lambda's Python runtime "
            "ships boto3, botocore and s3transfer, so remove it from script_requirements",
        ),
        (["Botocore"], "script_requirements[0]: botocore is already in the Worker"),
        (
            ["./vendor/mypkg"],
            "script_requirements[0]: './vendor/mypkg' is not a requirement like "
            "'pyyaml==6.0.2' or 'requests>=2.31,<3' (URLs and paths are not supported)",
        ),
        (["pkg @ https://example.com/pkg.whl"], "script_requirements[0]: 'pkg @ https://"),
        (
            ["PyYAML==6.0.2", "requests", "pyyaml>=6"],
            "script_requirements[2]: pyyaml is already required at script_requirements[0]",
        ),
        ("pyyaml", "script_requirements: expected a list, got the text 'pyyaml'"),
        ([6], "script_requirements[0]: expected text, got the number 6"),
    ],
)
def test_bad_script_requirements(
    tmp_path: Path, builtins: Path, requirements: object, expected: str
) -> None:
    path = write(tmp_path, with_(script_requirements=requirements))
    assert error(path).startswith(f"{path}: {expected}")


def test_script_requirements_null_or_with_markers(tmp_path: Path, builtins: Path) -> None:
    assert load_config(write(tmp_path, with_(script_requirements=None))).script_requirements == []
    by_version = ['tomli; python_version < "3.11"', 'tomli>=2; python_version >= "3.11"']
    config = load_config(write(tmp_path, with_(script_requirements=by_version)))
    assert config.script_requirements == by_version


def test_results_export_and_athena(tmp_path: Path, builtins: Path) -> None:
    default = load_config(write(tmp_path, with_(results=None)))
    assert default.results.export == "none" and default.to_settings().export == "none"
    assert default.results.athena.workgroup == "primary"
    assert default.results.athena.output("b") == "s3://b/athena-results/"

    results = {
        "export": "s3",
        "athena": {"workgroup": "analysts", "output_location": "s3://mine/lf/"},
    }
    config = load_config(write(tmp_path, with_(results=results)))
    assert config.to_settings().export == "s3"
    assert config.results.athena.workgroup == "analysts"
    assert config.results.athena.output("b") == "s3://mine/lf/"
    assert load_config(write(tmp_path, with_(results={"athena": None}))).results.athena.workgroup


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ({"export": "dynamodb"}, "results.export: must be none or s3, got 'dynamodb'"),
        ({"athena": {"workgroup": "a b"}}, "results.athena.workgroup: 'a b' is not an Athena"),
        (
            {"athena": {"output_location": "https://x/"}},
            "results.athena.output_location: 'https://x/' is not an S3 location",
        ),
        ({"athena": {"engine": "x"}}, "results.athena: unknown key 'engine'"),
    ],
)
def test_bad_export_settings(
    tmp_path: Path, builtins: Path, results: dict[str, Any], expected: str
) -> None:
    path = write(tmp_path, with_(results=results))
    assert error(path).startswith(f"{path}: {expected}")


def test_exported_scripts_whose_glue_tables_collide_are_refused(
    tmp_path: Path, builtins: Path
) -> None:
    for name in ("a-b.py", "a_b.py", "EC2.py", "ec2.py", "other.py"):
        (tmp_path / name).write_text(GOOD_SCRIPT)
    scripts = ["a-b.py", "a_b.py", "EC2.py", "other.py", "ec2.py"]
    exported = write(tmp_path, with_(scripts=scripts, results={"export": "s3"}))
    with pytest.raises(ConfigError) as caught:
        load_config(exported)
    assert caught.value.problems == (
        "scripts[1]: a_b.py and a-b.py (scripts[0]) are both Glue table 'a_b': with "
        "results.export s3 each script needs a table of its own; rename one",
        "scripts[4]: ec2.py and EC2.py (scripts[2]) are both Glue table 'ec2': with "
        "results.export s3 each script needs a table of its own; rename one",
    )
    # Without the export there are no tables: the names are fine.
    plain = write(tmp_path, with_(scripts=scripts), name="plain.yaml")
    assert len(load_config(plain).scripts) == 5
    result = cli("validate", "--config", str(exported))
    assert result.returncode == 2
    assert "a_b.py and a-b.py (scripts[0]) are both Glue table 'a_b'" in result.stderr
