"""`lambdafan deploy | destroy | validate | member-role` end to end: the CLI in this process
against moto's server."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambda_src.names import FLEET_TAG
from lambdafan.config import load_config
from lambdafan.deploy.bundle import build_bundle
from tests.conftest import Recorder, cli, deployable_config, mutating

REGION = "us-east-1"


def write_config(folder: Path, fleet: str = "e2e", **changes: Any) -> Path:
    return deployable_config(folder, fleet, **changes)


def deploy(config: Path, *extra: str) -> str:
    done = cli("deploy", "-c", str(config), *extra)
    assert done.returncode == 0, done.stderr
    return done.stdout


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def fleet_resources(fleet: str) -> dict[str, list[str]]:
    """Every resource whose name belongs to `fleet`, by kind, as AWS lists them."""
    functions = [f["FunctionName"] for f in client("lambda").list_functions()["Functions"]]
    roles = [r["RoleName"] for r in client("iam").list_roles()["Roles"]]
    groups = client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{fleet}-")
    rules = client("events").list_rules(NamePrefix=f"{fleet}-")["Rules"]
    tables = client("dynamodb").list_tables()["TableNames"]
    queues = client("sqs").list_queues(QueueNamePrefix=f"{fleet}-").get("QueueUrls", [])
    return {
        "queues": sorted(q.rsplit("/", 1)[-1] for q in queues),
        "functions": sorted(f for f in functions if f.startswith(f"{fleet}-")),
        "roles": sorted(r for r in roles if r.startswith(f"{fleet}-")),
        "log groups": sorted(g["logGroupName"] for g in groups["logGroups"]),
        "rules": sorted(r["Name"] for r in rules),
        "tables": sorted(t for t in tables if t.startswith(f"{fleet}-")),
    }


def test_deploy_creates_every_resource_tagged(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    out = deploy(config)
    assert "Plan: 12 to create, 0 to update, 0 to delete, 0 unchanged." in out
    tag = {FLEET_TAG: "e2e"}

    db = client("dynamodb")
    table = db.describe_table(TableName="e2e-results")["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["runs"]
    ttl = db.describe_time_to_live(TableName="e2e-results")["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    assert db.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"] == [
        {"Key": FLEET_TAG, "Value": "e2e"}
    ]

    logs = client("logs")
    for kind in ("director", "worker", "notifier"):
        group = f"/aws/lambda/e2e-{kind}"
        found = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        assert [(g["logGroupName"], g["retentionInDays"]) for g in found] == [(group, 30)]
        assert logs.list_tags_log_group(logGroupName=group)["tags"] == tag

        role = client("iam").get_role(RoleName=f"e2e-{kind}")["Role"]
        assert {t["Key"]: t["Value"] for t in role["Tags"]} == tag
        policies = client("iam").list_role_policies(RoleName=f"e2e-{kind}")["PolicyNames"]
        assert policies == [f"e2e-{kind}"]

        function = client("lambda").get_function(FunctionName=f"e2e-{kind}")
        configuration = function["Configuration"]
        assert configuration["Runtime"] == "python3.12"
        assert configuration["Handler"] == f"lambda_src.handlers.{kind}"
        assert configuration["Role"] == role["Arn"]
        assert configuration["Architectures"] == ["arm64"]
        assert function["Tags"] == tag

    settings = load_config(config).to_settings()
    worker = client("lambda").get_function(FunctionName="e2e-worker")["Configuration"]
    # The CLI deployed the bundle build_bundle makes (across processes: test_cli_lifecycle.py).
    assert worker["CodeSha256"] == build_bundle(settings, include_scripts=True).sha256
    assert worker["MemorySize"] == 1024 and worker["Timeout"] == 900
    assert "Concurrency" not in client("lambda").get_function(FunctionName="e2e-worker")
    sqs = client("sqs")
    dlq_url = sqs.get_queue_url(QueueName="e2e-notifier-dlq")["QueueUrl"]
    dlq = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
    assert (dlq["MessageRetentionPeriod"], dlq["SqsManagedSseEnabled"]) == ("1209600", "true")
    assert sqs.list_queue_tags(QueueUrl=dlq_url)["Tags"] == tag
    # Whatever Lambda gives up on lands somewhere: the Director's and a Worker's events reach
    # the Notifier (a run failed to start / an account failed), the Notifier's the queue.
    notifier_arn = client("lambda").get_function(FunctionName="e2e-notifier")["Configuration"][
        "FunctionArn"
    ]
    expected = {
        "e2e-director": (notifier_arn, 2, None),
        "e2e-worker": (notifier_arn, 2, 3 * 900 + 600),
        "e2e-notifier": (dlq["QueueArn"], 2, None),
    }
    for function, (destination, retries, age) in expected.items():
        invoke = client("lambda").get_function_event_invoke_config(FunctionName=function)
        assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == destination
        assert invoke["MaximumRetryAttempts"] == retries
        if age is not None:
            assert invoke["MaximumEventAgeInSeconds"] == age

    events = client("events")
    rule = events.describe_rule(Name="e2e-schedule")
    assert (rule["ScheduleExpression"], rule["State"]) == ("rate(1 day)", "ENABLED")
    director_arn = client("lambda").get_function(FunctionName="e2e-director")["Configuration"][
        "FunctionArn"
    ]
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule="e2e-schedule")["Targets"]] == [
        director_arn
    ]
    assert events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"] == [
        {"Key": FLEET_TAG, "Value": "e2e"}
    ]
    policy = json.loads(client("lambda").get_policy(FunctionName="e2e-director")["Policy"])
    assert [(s["Sid"], s["Principal"]) for s in policy["Statement"]] == [
        ("e2e-schedule", {"Service": "events.amazonaws.com"})
    ]


def test_second_deploy_and_dry_run_change_nothing(
    server: str, recorder: Recorder, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    deploy(config)

    recorder.start()
    out = deploy(config)
    operations = recorder.stop()

    assert "No changes: the fleet is up to date." in out
    assert operations, "the recorder saw the deploy's reads"
    assert mutating(operations) == []

    recorder.start()
    deploy(write_config(tmp_path, functions={"worker": {"memory": 2048}}), "--dry-run")
    assert mutating(recorder.stop()) == []
    assert (
        client("lambda").get_function(FunctionName="e2e-worker")["Configuration"]["MemorySize"]
        == 1024
    )


def test_memory_change_updates_that_function_only(
    server: str, recorder: Recorder, tmp_path: Path
) -> None:
    deploy(write_config(tmp_path))
    recorder.start()
    out = deploy(write_config(tmp_path, functions={"worker": {"memory": 2048}}))
    operations = mutating(recorder.stop())
    assert "memory 1024 → 2048" in out
    assert operations == ["lambda:PUT /2015-03-31/functions/e2e-worker/configuration"]
    worker = client("lambda").get_function(FunctionName="e2e-worker")["Configuration"]
    assert worker["MemorySize"] == 2048


def test_script_change_uploads_the_workers_code_only(
    server: str, recorder: Recorder, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    deploy(config)
    before = client("lambda").get_function(FunctionName="e2e-director")["Configuration"]
    script = tmp_path / "whoami.py"
    script.write_text(script.read_text() + "\n# a comment changes the bytes\n")

    recorder.start()
    deploy(config)
    operations = mutating(recorder.stop())

    assert operations == ["lambda:PUT /2015-03-31/functions/e2e-worker/code"]
    after = client("lambda").get_function(FunctionName="e2e-director")["Configuration"]
    assert after["CodeSha256"] == before["CodeSha256"]


def test_removing_the_schedule_deletes_rule_target_and_permission(
    server: str, recorder: Recorder, tmp_path: Path
) -> None:
    deploy(write_config(tmp_path))
    recorder.start()
    out = deploy(write_config(tmp_path, schedule=None))
    operations = mutating(recorder.stop())
    assert "Plan: 0 to create, 0 to update, 1 to delete, 11 unchanged." in out
    assert operations == [
        "events:RemoveTargets",
        "events:DeleteRule",
        "lambda:DELETE /2015-03-31/functions/e2e-director/policy/e2e-schedule",
    ]
    assert client("events").list_rules(NamePrefix="e2e-")["Rules"] == []


def test_destroy_names_the_export_bucket_it_keeps_with_the_table(
    server: str, tmp_path: Path
) -> None:
    config = write_config(tmp_path, results={"export": "s3"})
    deploy(config)
    account = client("sts").get_caller_identity()["Account"]
    bucket = f"e2e-records-{account}-{REGION}"
    assert client("s3").head_bucket(Bucket=bucket)
    # A view someone made in the fleet's Glue database (Athena's default for `query`).
    client("glue").create_table(
        DatabaseName="lambdafan_e2e", TableInput={"Name": "mine", "TableType": "VIRTUAL_VIEW"}
    )

    done = cli("destroy", "-c", str(config), "--yes")

    assert done.returncode == 0, done.stderr
    assert (
        f"kept the results table e2e-results and the export bucket {bucket}; to delete them too:"
    ) in done.stdout
    assert f"lambdafan -c {config.resolve()} destroy --delete-data --yes" in done.stdout
    assert client("s3").head_bucket(Bucket=bucket)  # kept, as it says
    kept = [" ".join(line.split()) for line in done.stdout.splitlines() if "glue database" in line]
    assert kept == [
        "glue database lambdafan_e2e (it holds 1 table this fleet did not make: mine) kept"
    ]


def test_destroy_removes_the_fleet_and_spares_another(server: str, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    ours = write_config(tmp_path / "a", fleet="e2e")
    theirs = write_config(tmp_path / "b", fleet="e2e-other")
    deploy(ours)
    deploy(theirs)
    others_before = fleet_resources("e2e-other")

    done = cli("destroy", "-c", str(ours), "--yes")
    assert done.returncode == 0, done.stderr
    assert "kept the results table e2e-results" in done.stdout

    left = fleet_resources("e2e")
    # Prefix listing for "e2e-" also matches the other fleet: only ours must be gone.
    for kind, names in left.items():
        assert [n for n in names if "e2e-other" not in n] == (
            ["e2e-results"] if kind == "tables" else []
        ), kind
    assert fleet_resources("e2e-other") == others_before

    again = cli("destroy", "-c", str(ours), "--yes", "--delete-data")
    assert again.returncode == 0, again.stderr
    assert "already gone" in again.stdout
    assert "e2e-results" not in client("dynamodb").list_tables()["TableNames"]
    assert fleet_resources("e2e-other") == others_before


def test_reserved_concurrency_is_set_changed_and_removed_idempotently(
    server: str, recorder: Recorder, tmp_path: Path
) -> None:
    def capped(limit: int | None) -> Path:
        return write_config(tmp_path, functions={"worker": {"reserved_concurrency": limit}})

    deploy(capped(5))
    worker = client("lambda").get_function(FunctionName="e2e-worker")
    assert worker["Concurrency"] == {"ReservedConcurrentExecutions": 5}

    recorder.start()
    assert "No changes: the fleet is up to date." in deploy(capped(5))
    assert mutating(recorder.stop()) == []

    for limit, shown, call in (
        (8, "reserved_concurrency 5 → 8", "PUT"),
        (None, "reserved_concurrency 8 → none", "DELETE"),
    ):
        recorder.start()
        out = deploy(capped(limit))
        assert shown in out
        assert mutating(recorder.stop()) == [
            f"lambda:{call} /2017-10-31/functions/e2e-worker/concurrency"
        ]
    assert "Concurrency" not in client("lambda").get_function(FunctionName="e2e-worker")
    recorder.start()
    assert "No changes: the fleet is up to date." in deploy(capped(None))
    assert mutating(recorder.stop()) == []


def test_worker_event_age_follows_its_timeout(
    server: str, recorder: Recorder, tmp_path: Path
) -> None:
    deploy(write_config(tmp_path))
    recorder.start()
    out = deploy(write_config(tmp_path, functions={"worker": {"timeout": 300}}))
    # (Every function's code changes too: fleet.json carries the Worker's timeout.)
    assert "timeout 900 → 300, code, max_event_age_s 3300 → 1500" in out
    assert [op for op in mutating(recorder.stop()) if "event-invoke-config" in op] == [
        "lambda:PUT /2019-09-25/functions/e2e-worker/event-invoke-config"
    ]
    # Not read back: moto 5.2's put appends a second config and get returns the first one
    # (AWS replaces it); test_apply.py checks what the put sends.


def test_destroy_without_yes_outside_a_terminal_refuses(server: str, tmp_path: Path) -> None:
    done = cli("destroy", "-c", str(write_config(tmp_path)))
    assert done.returncode == 2
    assert "pass --yes" in done.stderr


def test_broken_script_stops_deploy_before_any_upload(
    server: str, recorder: Recorder, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    (tmp_path / "whoami.py").write_text("def collect(session, region, account):\n    yield {\n")
    recorder.start()
    done = cli("deploy", "-c", str(config))
    assert mutating(recorder.stop()) == []
    assert done.returncode == 2
    assert "whoami.py:2: syntax error" in done.stderr and "Traceback" not in done.stderr


def test_deploy_repeats_the_scripts_laptop_habits_as_warnings(server: str, tmp_path: Path) -> None:
    # Issue 15: validate named them, deploy said nothing and shipped a script that never yields.
    config = write_config(tmp_path)
    (tmp_path / "whoami.py").write_text(
        "def collect(session, region, account):\n    print(account.id, region)\n"
    )
    done = cli("deploy", "-c", str(config), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "whoami.py:2: collect prints but never yields" in done.stderr


@pytest.mark.parametrize("permissions", ["ReadOnlyAccess", "SecurityAudit"])
def test_member_role_template_trusts_this_fleets_worker(
    server: str, tmp_path: Path, permissions: str
) -> None:
    config = write_config(tmp_path, member_role={"name": "audit", "external_id": "xyz-123"})
    done = cli("member-role", "-c", str(config), "--permissions", permissions)
    assert done.returncode == 0, done.stderr
    template = json.loads(done.stdout)
    text = json.dumps(template)
    account = client("sts").get_caller_identity()["Account"]
    assert f"arn:aws:iam::{account}:role/e2e-worker" in text
    assert permissions in text and "xyz-123" in text and "audit" in text


def test_validate_checks_without_aws(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    done = cli("validate", "-c", str(config))
    assert done.returncode == 0, done.stderr
    assert "ok: fleet e2e" in done.stdout and "script whoami (region)" in done.stdout
    (tmp_path / "whoami.py").write_text("def collect(session):\n    return None\n")
    bad = cli("validate", "-c", str(config))
    assert bad.returncode == 2 and "collect` must take (session, region, account)" in bad.stderr


def test_validate_shows_every_problem_of_the_config_one_a_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, home_region="mars-1", schedule="every day")
    config.write_text(config.read_text().replace("whoami.py", "gone.py"))

    done = cli("validate", "-c", str(config))

    assert done.returncode == 2
    head, *problems = done.stderr.splitlines()
    assert head == f"error: {config}: 3 problems:"
    assert [p.split(":")[0] for p in problems] == ["  home_region", "  schedule", "  scripts[1]"]
    assert "gone.py" in problems[2] and "Traceback" not in done.stderr
    # Every command reads the config the same way, and says the same.
    deploy = cli("deploy", "-c", str(config))
    assert (deploy.returncode, deploy.stderr) == (2, done.stderr)


def hints(stdout: str) -> dict[str, list[str]]:
    """The commands printed as next steps, by what they run (`deploy`, `run`, ...): their
    arguments as the shell would split them, without `lambdafan`."""
    found = {}
    for line in stdout.splitlines():
        text = line.strip().removeprefix("next:").strip()
        if text.startswith("lambdafan "):
            words = shlex.split(text, comments=True)[1:]
            found[next(w for w in words[2:] if not w.startswith("-"))] = words
    return found


def test_every_hint_runs_as_printed_from_another_folder(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fleet").mkdir()
    write_config(tmp_path / "fleet")  # the default name, lambdafan.yaml: no -c below
    (tmp_path / "elsewhere").mkdir()
    config = str(tmp_path / "fleet" / "lambdafan.yaml")

    def hinted(*args: str) -> dict[str, list[str]]:
        monkeypatch.chdir(tmp_path / "fleet")
        done = cli(*args)
        assert done.returncode == 0, done.stderr
        found = hints(done.stdout)
        assert all(words[:2] == ["-c", config] for words in found.values()), found
        monkeypatch.chdir(tmp_path / "elsewhere")
        return found

    dry_run = hinted("validate")["deploy"]
    assert dry_run[2:] == ["deploy", "--dry-run"]
    apply = hints(cli(*dry_run).stdout)["deploy"]
    assert apply[2:] == ["deploy"]
    deployed = cli(*apply)
    assert deployed.returncode == 0, deployed.stderr
    assert "Deployed fleet e2e" in deployed.stdout
    found = hints(deployed.stdout)
    assert found["run"][2:] == ["run", "--now"] and found["status"][2:] == ["status"]
    status = cli(*found["status"])
    assert status.returncode == 0, status.stderr
    assert "ok: fleet e2e is deployed and matches its config." in status.stdout
    # moto's server cannot run the Director, but the config was found from here.
    ran = cli(*found["run"])
    assert "e2e-director" in ran.stderr and "config file not found" not in ran.stderr

    delete = hinted("destroy", "--yes")["destroy"]
    assert delete[2:] == ["destroy", "--delete-data", "--yes"]
    deleted = cli(*delete)
    assert deleted.returncode == 0, deleted.stderr
    assert fleet_resources("e2e")["tables"] == []


def test_member_role_help_names_values_by_their_kind() -> None:
    done = cli("member-role", "--help")
    assert re.search(r"--account-id\s+ACCOUNT_ID\s", done.stdout)
    assert re.search(r"--also-trust\s+ARN\s", done.stdout)


def test_member_role_can_also_trust_the_operators_role(server: str, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    mine = "arn:aws:iam::123456789012:role/Admin"
    done = cli("member-role", "-c", str(config), "--also-trust", mine)
    assert done.returncode == 0, done.stderr
    statement = json.loads(done.stdout)["Resources"]["MemberRole"]["Properties"][
        "AssumeRolePolicyDocument"
    ]["Statement"][0]
    assert statement["Principal"]["AWS"] == [{"Ref": "WorkerRoleArn"}, mine]
    bad = cli("member-role", "-c", str(config), "--also-trust", "Admin")
    assert bad.returncode == 2 and "not an IAM role, user or account-root ARN" in bad.stderr


ORGANIZATION = {"organization": {"enabled": True}, "exclude": ["444444444444"]}


def test_organization_fleets_worker_assumes_only_in_its_organization(
    server: str, recorder: Recorder, tmp_path: Path
) -> None:
    org_id = client("organizations").create_organization(FeatureSet="ALL")["Organization"]["Id"]
    config = write_config(tmp_path, accounts=ORGANIZATION)
    deploy(config)
    policy = client("iam").get_role_policy(RoleName="e2e-worker", PolicyName="e2e-worker")
    assume = [
        (s["Effect"], s["Resource"], s.get("Condition"))
        for s in policy["PolicyDocument"]["Statement"]
        if "sts:AssumeRole" in s["Action"]
    ]
    assert assume == [
        (
            "Allow",
            ["arn:aws:iam::*:role/lambdafan-member"],
            {"StringEquals": {"aws:ResourceOrgID": org_id}},
        ),
        ("Deny", ["arn:aws:iam::444444444444:role/lambdafan-member"], None),
    ]

    recorder.start()
    out = deploy(config)
    assert mutating(recorder.stop()) == []
    assert "No changes: the fleet is up to date." in out


@pytest.mark.parametrize(
    ("faults", "code", "message"),
    [
        ("", 2, "is not in an organization: list the accounts instead"),
        (
            "organizations:DescribeOrganization:access_denied:1",
            1,
            "can't read its organization (AccessDeniedException): grant "
            "organizations:DescribeOrganization, or list the accounts instead",
        ),
    ],
)
def test_an_organization_deploy_cannot_read_stops_before_any_change(
    server: str,
    recorder: Recorder,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    faults: str,
    code: int,
    message: str,
) -> None:
    if faults:
        client("organizations").create_organization(FeatureSet="ALL")
        monkeypatch.setenv("LAMBDAFAN_FAULTS", faults)
    recorder.start()
    done = cli("deploy", "-c", str(write_config(tmp_path, accounts=ORGANIZATION)))
    assert mutating(recorder.stop()) == []
    assert done.returncode == code, done.stderr
    assert message in done.stderr.replace("\n", " ") and "Traceback" not in done.stderr


def test_member_role_trusts_another_account_only_when_told(tmp_path: Path) -> None:
    config = str(write_config(tmp_path))
    home = ("member-role", "-c", config, "--account-id", "123456789012")
    theirs = "arn:aws:iam::210987654321:root"
    refused = cli(*home, "--also-trust", theirs)
    assert refused.returncode == 2 and refused.stdout == ""
    assert (
        f"{theirs} is in account 210987654321, not the fleet's account 123456789012; pass "
        "--allow-other-account to trust it anyway" in refused.stderr.replace("\n", " ")
    )
    allowed = cli(*home, "--also-trust", theirs, "--allow-other-account")
    assert allowed.returncode == 0, allowed.stderr
    trust = json.loads(allowed.stdout)["Resources"]["MemberRole"]["Properties"][
        "AssumeRolePolicyDocument"
    ]
    assert trust["Statement"][0]["Principal"]["AWS"] == [{"Ref": "WorkerRoleArn"}, theirs]
    other_partition = "arn:aws-cn:iam::123456789012:role/Admin"
    for extra in ((), ("--allow-other-account",)):
        bad = cli(*home, "--also-trust", other_partition, *extra)
        assert bad.returncode == 2 and "is in partition aws-cn, but the fleet is in aws" in (
            bad.stderr.replace("\n", " ")
        )
