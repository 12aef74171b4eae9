"""Fleet status from the deploy plan, pure: desired model + described state → statuses."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from lambda_src import runs
from lambdafan.aws import Aws
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.plan import FleetState, ScheduleState, plan_fleet
from lambdafan.fleet_status import (
    VERSION_VARIABLE,
    FleetStatus,
    ResourceStatus,
    deployed_version,
    dlq_messages,
    last_run,
    resource_statuses,
    schedule_status,
)
from lambdafan.render.status import (
    dlq_line,
    last_run_line,
    schedule_line,
    verdict,
    version_line,
)
from tests.conftest import create_table, make_settings
from tests.test_plan import in_sync, model

NOW = datetime(2026, 11, 26, 22, 41, 4, tzinfo=timezone.utc)
DEFAULT = "cron(0 6 * * ? *)"  # the config's default schedule


def states(statuses: tuple[ResourceStatus, ...]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    return [(s.kind, s.name, s.state, s.fields) for s in statuses]


def not_ok(statuses: tuple[ResourceStatus, ...]) -> list[tuple[str, str, str, tuple[str, ...]]]:
    return [row for row in states(statuses) if row[2] != "ok"]


def fleet_status(resources: tuple[ResourceStatus, ...], **changes: Any) -> FleetStatus:
    values: dict[str, Any] = {
        "fleet": "plan",
        "region": "us-east-1",
        "resources": resources,
        "schedule": schedule_status([], None, NOW),
        "table_name": "plan-results",
        "table_exists": True,
        "last_run": None,
        **changes,
    }
    return FleetStatus(**values)


def test_in_sync_fleet_is_all_ok_and_its_schedule_fires_next_morning(tmp_path: Path) -> None:
    m = model(tmp_path)
    changes = plan_fleet(m, in_sync(m))
    statuses = resource_statuses(changes)
    assert [s.state for s in statuses] == ["ok"] * 12
    assert [s.kind for s in statuses] == (
        ["table", "queue"] + ["log group"] * 3 + ["role"] * 3 + ["function"] * 3 + ["schedule"]
    )
    schedule = schedule_status(changes, DEFAULT, NOW)
    assert (schedule.deployed, schedule.enabled, schedule.fires) == (DEFAULT, True, True)
    assert schedule.next_run == datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc)
    status = fleet_status(statuses, schedule=schedule)
    assert status.ok and status.deployed
    assert "ok" in verdict(status)
    assert schedule_line(schedule) == f"schedule: {DEFAULT} — next run 2026-11-27 06:00 UTC"


def test_nothing_exists_so_everything_is_missing_and_nothing_fires(tmp_path: Path) -> None:
    changes = plan_fleet(model(tmp_path), FleetState())
    statuses = resource_statuses(changes)
    assert {s.state for s in statuses} == {"missing"}
    schedule = schedule_status(changes, DEFAULT, NOW)
    assert (schedule.deployed, schedule.next_run, schedule.fires) == (None, None, False)
    status = fleet_status(statuses, schedule=schedule, table_exists=False)
    assert not status.ok and not status.deployed
    assert "not deployed" in verdict(status)
    assert "not deployed, never fires" in schedule_line(schedule)
    assert "does not exist" in last_run_line(status)


def test_memory_change_is_drift_of_that_function_naming_the_field(tmp_path: Path) -> None:
    before = model(tmp_path)
    after = model(tmp_path, functions={"notifier": {"memory": 512}})
    statuses = resource_statuses(plan_fleet(after, in_sync(before)))
    assert not_ok(statuses) == [("function", "plan-notifier", "drifted", ("memory",))]
    status = fleet_status(statuses)
    assert not status.ok and status.deployed
    assert status.count("drifted") == 1
    assert "1 drifted" in verdict(status)


def test_lost_notifications_are_a_warning_and_not_ok(tmp_path: Path) -> None:
    m = model(tmp_path)
    statuses = resource_statuses(plan_fleet(m, in_sync(m)))
    lost = fleet_status(statuses, dlq_name="plan-notifier-dlq", dlq_messages=3)
    assert not lost.ok and lost.deployed
    assert dlq_line(lost) == (
        "[yellow]warning[/]: 3 notifications lost: the Notifier failed and Lambda kept them in "
        "the dead-letter queue plan-notifier-dlq (read with `aws sqs receive-message`; "
        "`lambdafan logs notifier` says why)"
    )
    assert "notifications lost" in verdict(lost)
    one = fleet_status(statuses, dlq_name="plan-notifier-dlq", dlq_messages=1)
    assert "1 notification lost" in str(dlq_line(one)) and "kept it" in str(dlq_line(one))
    for empty in (0, None):
        status = fleet_status(statuses, dlq_messages=empty)
        assert status.ok and dlq_line(status) is None


def test_dlq_messages_counts_what_waits_in_the_queue(aws: Any) -> None:
    clients = DeployClients.from_aws(Aws(aws), "us-east-1")
    assert dlq_messages(clients, "plan-notifier-dlq") is None  # no queue
    url = aws.client("sqs").create_queue(QueueName="plan-notifier-dlq")["QueueUrl"]
    assert dlq_messages(clients, "plan-notifier-dlq") == 0
    for body in ("a", "b"):
        aws.client("sqs").send_message(QueueUrl=url, MessageBody=body)
    assert dlq_messages(clients, "plan-notifier-dlq") == 2


def test_deleted_log_group_is_missing(tmp_path: Path) -> None:
    m = model(tmp_path)
    state = in_sync(m)
    del state.log_groups["/aws/lambda/plan-worker"]
    statuses = resource_statuses(plan_fleet(m, state))
    assert not_ok(statuses) == [("log group", "/aws/lambda/plan-worker", "missing", ())]


def test_several_drifted_fields_are_all_listed(tmp_path: Path) -> None:
    m = model(tmp_path)
    state = in_sync(m)
    worker = state.functions["plan-worker"]
    state.functions["plan-worker"] = dataclasses.replace(worker, timeout=3, code_sha256="old")
    statuses = resource_statuses(plan_fleet(m, state))
    assert not_ok(statuses) == [("function", "plan-worker", "drifted", ("timeout", "code"))]


def test_schedule_the_config_no_longer_wants_is_unwanted_and_still_fires(tmp_path: Path) -> None:
    deployed = model(tmp_path)
    wanted = model(tmp_path, schedule=None)
    changes = plan_fleet(wanted, in_sync(deployed))
    statuses = resource_statuses(changes)
    assert not_ok(statuses) == [("schedule", "plan-schedule", "unwanted", ())]
    rule = in_sync(deployed).schedule
    schedule = schedule_status(changes, None, NOW, unwanted=rule)
    assert (schedule.wanted, schedule.deployed) == (None, DEFAULT)
    assert schedule.next_run == datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc)
    assert "(not in the config)" in schedule_line(schedule)
    assert "1 unwanted" in verdict(fleet_status(statuses, schedule=schedule))


def test_no_schedule_wanted_or_deployed(tmp_path: Path) -> None:
    m = model(tmp_path, schedule=None)
    changes = plan_fleet(m, in_sync(m))
    assert {s.state for s in resource_statuses(changes)} == {"ok"}
    schedule = schedule_status(changes, None, NOW)
    assert (schedule.deployed, schedule.fires) == (None, False)
    assert schedule_line(schedule).startswith("schedule: none")


def test_changed_expression_reports_the_one_that_actually_fires(tmp_path: Path) -> None:
    before = model(tmp_path, schedule="cron(0 9 ? * MON-FRI *)")
    after = model(tmp_path)
    changes = plan_fleet(after, in_sync(before))
    assert not_ok(resource_statuses(changes)) == [
        ("schedule", "plan-schedule", "drifted", ("expression",))
    ]
    schedule = schedule_status(changes, DEFAULT, NOW)
    assert schedule.deployed == "cron(0 9 ? * MON-FRI *)"
    # Thursday evening: the deployed rule fires Friday 09:00, not the config's 06:00.
    assert schedule.next_run == datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)
    assert f"(config: {DEFAULT})" in schedule_line(schedule)


def test_disabled_rule_never_fires(tmp_path: Path) -> None:
    m = model(tmp_path)
    state = in_sync(m)
    assert state.schedule is not None
    state = dataclasses.replace(state, schedule=dataclasses.replace(state.schedule, enabled=False))
    changes = plan_fleet(m, state)
    assert not_ok(resource_statuses(changes)) == [
        ("schedule", "plan-schedule", "drifted", ("enabled",))
    ]
    schedule = schedule_status(changes, DEFAULT, NOW)
    assert (schedule.enabled, schedule.next_run, schedule.fires) == (False, None, False)
    assert schedule_line(schedule).endswith("disabled, never fires")


def test_rate_schedule_has_an_interval_not_a_time(tmp_path: Path) -> None:
    m = model(tmp_path, schedule="rate(1 day)")
    schedule = schedule_status(plan_fleet(m, in_sync(m)), "rate(1 day)", NOW)
    assert (schedule.next_run, schedule.every) == (None, "every 1 day")
    assert schedule_line(schedule) == "schedule: rate(1 day) — every 1 day"


def test_unknown_cron_form_says_unknown(tmp_path: Path) -> None:
    state = ScheduleState("cron(0 12 L * ? *)", True, (), True, {})
    schedule = schedule_status(
        [plan_fleet(model(tmp_path, schedule=None), FleetState(schedule=state))[-1]],
        None,
        NOW,
        unwanted=state,
    )
    assert schedule_line(schedule).endswith("next run unknown")


def test_last_run_is_the_newest_run_with_plain_numbers(aws: Any) -> None:
    settings = make_settings()
    clients = DeployClients.from_aws(Aws(aws), "us-east-1")
    assert last_run(clients, settings.table_name) is None  # no table: nothing to show

    store = create_table(aws, settings)
    assert last_run(clients, settings.table_name) is None  # a table, no run yet
    for run_id, day in (("20261125T060000Z-aaaaaa", 25), ("20261126T060000Z-bbbbbb", 26)):
        runs.start_run(
            store,
            run_id,
            accounts=["111111111111", "222222222222"],
            scripts=["whoami"],
            trigger="schedule",
            now=datetime(2026, 11, day, 6, 0, tzinfo=timezone.utc),
            ttl_days=30,
            worker_timeout_s=10**9,  # a deadline far away: the run is running, not overdue
        )
    finished = runs.finish_account(
        store, "20261126T060000Z-bbbbbb", "111111111111", "a", records_by_script={"whoami": 7},
        errors=0, failed=False, attempt="a1",
        now=datetime(2026, 11, 26, 6, 1, tzinfo=timezone.utc), ttl_days=30,
    )  # fmt: skip
    assert finished is runs.Finish.COUNTED

    run = last_run(clients, settings.table_name)
    assert run is not None
    assert (run["run_id"], run["accounts_done"], run["records"]) == (
        "20261126T060000Z-bbbbbb",
        1,
        7,
    )
    assert type(run["records"]) is int
    line = last_run_line(fleet_status((), last_run=run))
    assert line == (
        "last run: 20261126T060000Z-bbbbbb, running, 1/2 accounts, 7 records, 0 errors, "
        "started 2026-11-26 06:00:00 UTC"
    )
    assert last_run_line(fleet_status((), last_run=None)) == "last run: no runs yet"


def test_last_run_line_says_which_channels_were_told() -> None:
    run = {
        "run_id": "20261126T060000Z-cccccc",
        "status": "complete",
        "accounts_done": 2,
        "accounts_expected": 2,
        "records": 3,
        "errors": 0,
        "started_at": "2026-11-26T06:00:00+00:00",
        "deliveries": {"slack": "sent", "email": "failed: MessageRejected: not verified"},
    }
    line = last_run_line(fleet_status((), last_run=run))
    assert line.endswith("told: slack sent; email failed: MessageRejected: not verified")


def test_last_run_line_says_overdue_past_the_deadline() -> None:
    run = {
        "run_id": "20261126T060000Z-dddddd",
        "status": "running",
        "deadline_at": "2026-11-26T07:20:00+00:00",
        "accounts_done": 1,
        "accounts_expected": 2,
        "started_at": "2026-11-26T06:00:00+00:00",
    }
    assert ", overdue, 1/2 accounts" in last_run_line(fleet_status((), last_run=run))


# --- versions (issue 13, row 7) ---------------------------------------------------------------


class WorkerConfiguration:
    """A Lambda client whose Worker has `variables` as its environment."""

    def __init__(self, variables: dict[str, str]) -> None:
        self.variables = variables
        self.asked: list[str] = []

    def get_function_configuration(self, FunctionName: str) -> dict[str, Any]:
        self.asked.append(FunctionName)
        return {"Environment": {"Variables": self.variables}}


def lambda_only(client: Any) -> DeployClients:
    none: Any = None
    return DeployClients(none, client, none, none, none, none, none)


def test_deployed_version_is_read_from_the_workers_environment() -> None:
    recorded = WorkerConfiguration({"LAMBDAFAN_FLEET": "plan", VERSION_VARIABLE: "0.0.9"})
    assert deployed_version(lambda_only(recorded), "plan") == "0.0.9"
    assert recorded.asked == ["plan-worker"]
    assert deployed_version(lambda_only(WorkerConfiguration({})), "plan") is None


def test_version_line_shows_the_cli_and_any_other_deployed_version() -> None:
    status = fleet_status((), cli_version="0.2.0")
    assert version_line(status) == "version: lambdafan 0.2.0"
    same = dataclasses.replace(status, deployed_version="0.2.0")
    assert version_line(same) == "version: lambdafan 0.2.0, the same as the deployed fleet"
    older = dataclasses.replace(status, deployed_version="0.1.0")
    assert "deployed by 0.1.0" in version_line(older)
