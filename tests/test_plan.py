"""The planner, pure: desired fleet vs described state → changes, with no AWS at all."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from lambdafan.config import Config, load_config
from lambdafan.deploy.export_model import GlueTableSpec
from lambdafan.deploy.fleet_arns import FleetArns
from lambdafan.deploy.model import FleetModel, fleet_model
from lambdafan.deploy.plan import (
    BucketState,
    Change,
    FleetState,
    FunctionState,
    GlueDatabaseState,
    GlueTableState,
    LogGroupState,
    QueueState,
    RoleState,
    ScheduleState,
    TableState,
    normalize_policy,
    plan_fleet,
)
from tests.conftest import SCRIPTS


def config(tmp_path: Path, **changes: Any) -> Config:
    data = {
        "fleet": "plan",
        "home_region": "us-east-1",
        "accounts": {"list": ["111111111111"]},
        "scripts": [str(SCRIPTS / "whoami.py")],
        **changes,
    }
    path = tmp_path / "lambdafan.yaml"
    path.write_text(yaml.safe_dump(data))
    return load_config(path)


def model(tmp_path: Path, **changes: Any) -> FleetModel:
    cfg = config(tmp_path, **changes)
    return fleet_model(cfg, FleetArns.from_settings(cfg.to_settings(), "123456789012"))


def in_sync(m: FleetModel) -> FleetState:
    """What AWS would report right after deploying `m` (plus tags someone else added)."""
    extra = {"owner": "ops"}
    schedule = None
    if m.schedule:
        schedule = ScheduleState(
            expression=m.schedule.expression,
            enabled=True,
            target_arns=(m.schedule.director_arn,),
            has_permission=True,
            tags={**m.schedule.tags, **extra},
        )
    return FleetState(
        table=TableState(
            m.table.point_in_time_recovery, m.table.ttl_attribute, {**m.table.tags, **extra}
        ),
        dlq=QueueState(m.dlq.retention_s, m.dlq.sse, {**m.dlq.tags, **extra}),
        log_groups={g.name: LogGroupState(g.retention_days, dict(g.tags)) for g in m.log_groups},
        roles={
            r.name: RoleState(r.trust_policy, {r.policy_name: r.policy}, dict(r.tags))
            for r in m.roles
        },
        functions={
            f.name: FunctionState(
                role_arn=f.role_arn,
                handler=f.handler,
                memory=f.memory,
                timeout=f.timeout,
                environment=dict(f.environment),
                code_sha256=f.bundle.sha256,
                runtime=f.runtime,
                architecture=f.architecture,
                tags=dict(f.tags),
                on_failure=f.on_failure,
                retry_attempts=f.retry_attempts,
                # Lambda reports its default age where we set none.
                max_event_age_s=f.max_event_age_s or 21600,
                reserved_concurrency=f.reserved_concurrency,
            )
            for f in m.functions
        },
        schedule=schedule,
    )


def acting(changes: list[Change]) -> list[tuple[str, str, str, list[str]]]:
    return [
        (c.action, c.kind, c.name, [f.field for f in c.fields])
        for c in changes
        if c.action != "unchanged"
    ]


def test_nothing_exists_so_everything_is_created_in_dependency_order(tmp_path: Path) -> None:
    changes = plan_fleet(model(tmp_path), FleetState())
    assert [c.action for c in changes] == ["create"] * 12
    assert [c.kind for c in changes] == (
        ["table", "queue"] + ["log group"] * 3 + ["role"] * 3 + ["function"] * 3 + ["schedule"]
    )


def test_in_sync_fleet_is_unchanged_despite_foreign_tags(tmp_path: Path) -> None:
    m = model(tmp_path)
    assert acting(plan_fleet(m, in_sync(m))) == []


def test_one_memory_setting_updates_one_field_of_one_function(tmp_path: Path) -> None:
    before = model(tmp_path)
    after = model(tmp_path, functions={"notifier": {"memory": 512}})
    assert acting(plan_fleet(after, in_sync(before))) == [
        ("update", "function", "plan-notifier", ["memory"])
    ]


def test_changed_script_is_a_code_change_of_the_worker_only(tmp_path: Path) -> None:
    m = model(tmp_path)
    state = in_sync(m)
    worker = state.functions["plan-worker"]
    state.functions["plan-worker"] = dataclasses.replace(worker, code_sha256="old")
    assert acting(plan_fleet(m, state)) == [("update", "function", "plan-worker", ["code"])]


def test_aws_policy_shapes_are_not_changes(tmp_path: Path) -> None:
    m = model(tmp_path)
    state = in_sync(m)
    role = m.roles[0]
    # IAM returns one-element lists as strings and statements in any order.
    reshaped = {
        "Version": role.policy["Version"],
        "Statement": [
            {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in s.items()}
            for s in reversed(role.policy["Statement"])
        ],
    }
    state.roles[role.name] = RoleState(role.trust_policy, {role.policy_name: reshaped}, role.tags)
    assert normalize_policy(reshaped) == normalize_policy(role.policy)
    assert acting(plan_fleet(m, state)) == []


def test_policy_drift_missing_policy_and_tags_are_updates(tmp_path: Path) -> None:
    m = model(tmp_path)
    state = in_sync(m)
    director, worker = m.roles[0], m.roles[1]
    state.roles[director.name] = RoleState(director.trust_policy, {}, {})
    state.log_groups[m.log_groups[0].name] = LogGroupState(None, {})
    assert acting(plan_fleet(m, state)) == [
        ("update", "log group", m.log_groups[0].name, ["retention_days", "tags"]),
        ("update", "role", director.name, ["policy", "tags"]),
    ]
    assert worker.name not in [c[2] for c in acting(plan_fleet(m, state))]


def test_removed_schedule_is_deleted_and_a_new_one_created(tmp_path: Path) -> None:
    with_schedule = model(tmp_path)
    without = model(tmp_path, schedule=None)
    assert acting(plan_fleet(without, in_sync(with_schedule))) == [
        ("delete", "schedule", "plan-schedule", [])
    ]
    assert acting(plan_fleet(without, in_sync(without))) == []
    assert acting(plan_fleet(with_schedule, in_sync(without))) == [
        ("create", "schedule", "plan-schedule", [])
    ]


def test_schedule_drift(tmp_path: Path) -> None:
    m = model(tmp_path, schedule="rate(2 hours)")
    state = in_sync(m)
    assert state.schedule is not None
    state = dataclasses.replace(
        state,
        schedule=dataclasses.replace(
            state.schedule, expression="rate(1 day)", target_arns=(), has_permission=False
        ),
    )
    assert acting(plan_fleet(m, state)) == [
        ("update", "schedule", "plan-schedule", ["expression", "target", "permission"])
    ]


def test_table_ttl_off_and_pitr_requested(tmp_path: Path) -> None:
    m = model(tmp_path, results={"point_in_time_recovery": True})
    state = dataclasses.replace(
        in_sync(m), table=TableState(point_in_time_recovery=False, ttl_attribute=None, tags={})
    )
    assert acting(plan_fleet(m, state)) == [
        ("update", "table", "plan-results", ["point_in_time_recovery", "ttl_attribute", "tags"])
    ]


def test_async_failure_destinations_and_their_drift(tmp_path: Path) -> None:
    m = model(tmp_path)
    destinations = {f.kind: f.on_failure for f in m.functions}
    assert destinations == {
        "director": "arn:aws:lambda:us-east-1:123456789012:function:plan-notifier",
        "worker": "arn:aws:lambda:us-east-1:123456789012:function:plan-notifier",
        "notifier": "arn:aws:sqs:us-east-1:123456789012:plan-notifier-dlq",
    }
    state = in_sync(m)
    for name in ("plan-director", "plan-worker"):
        state.functions[name] = dataclasses.replace(
            state.functions[name], on_failure=None, retry_attempts=None, max_event_age_s=None
        )
    assert acting(plan_fleet(m, state)) == [
        ("update", "function", "plan-director", ["on_failure", "retry_attempts"]),
        ("update", "function", "plan-worker", ["on_failure", "retry_attempts", "max_event_age_s"]),
    ]


def test_event_age_counts_only_where_we_set_one(tmp_path: Path) -> None:
    m = model(tmp_path)
    state = in_sync(m)
    # Someone shortened the Director's and Notifier's event age: not ours, not a change.
    for name in ("plan-director", "plan-notifier"):
        state.functions[name] = dataclasses.replace(state.functions[name], max_event_age_s=60)
    assert acting(plan_fleet(m, state)) == []
    state.functions["plan-worker"] = dataclasses.replace(
        state.functions["plan-worker"], max_event_age_s=21600
    )
    changes = plan_fleet(m, state)
    assert acting(changes) == [("update", "function", "plan-worker", ["max_event_age_s"])]
    worker = next(c for c in changes if c.kind == "function" and c.name == "plan-worker")
    assert [(f.current, f.desired) for f in worker.fields] == [(21600, 3300)]


def test_reserved_concurrency_set_changed_and_removed(tmp_path: Path) -> None:
    without = model(tmp_path)
    capped = model(tmp_path, functions={"worker": {"reserved_concurrency": 5}})
    assert acting(plan_fleet(capped, in_sync(without))) == [
        ("update", "function", "plan-worker", ["reserved_concurrency"])
    ]
    assert acting(plan_fleet(capped, in_sync(capped))) == []
    changes = plan_fleet(without, in_sync(capped))
    assert acting(changes) == [("update", "function", "plan-worker", ["reserved_concurrency"])]
    worker = next(c for c in changes if c.kind == "function" and c.name == "plan-worker")
    assert [(f.current, f.desired) for f in worker.fields] == [(5, None)]


def test_dead_letter_queue_missing_and_drifted(tmp_path: Path) -> None:
    m = model(tmp_path)
    assert (m.dlq.name, m.dlq.retention_s, m.dlq.sse) == ("plan-notifier-dlq", 1209600, True)
    assert m.dlq.tags == {"lambdafan:fleet": "plan"}
    missing = dataclasses.replace(in_sync(m), dlq=None)
    assert acting(plan_fleet(m, missing)) == [("create", "queue", "plan-notifier-dlq", [])]
    drifted = dataclasses.replace(in_sync(m), dlq=QueueState(345600, False, {}))
    assert acting(plan_fleet(m, drifted)) == [
        ("update", "queue", "plan-notifier-dlq", ["retention_s", "sse", "tags"])
    ]


# --- the S3 export ------------------------------------------------------------------------------


def export_in_sync(m: FleetModel) -> FleetState:
    """`in_sync(m)` plus the export as deploy leaves it (and what AWS and others add)."""
    export = m.export
    assert export is not None
    return dataclasses.replace(
        in_sync(m),
        bucket=BucketState(
            encryption="AES256",
            public_access_blocked=True,
            expiry=tuple(sorted(export.bucket.expiry, key=lambda r: r.rule_id)),
            tags={**export.bucket.tags, "owner": "ops"},
        ),
        glue_database=GlueDatabaseState(export.database.description),
        glue_tables={
            t.name: GlueTableState(
                location=t.location,
                columns=t.columns,
                partition_keys=t.partition_keys,
                # Athena and Glue add parameters of their own.
                parameters={**t.parameters, "transient_lastDdlTime": "1"},
                serde=t.serde,
                serde_parameters={**dict(t.serde_parameters), "serialization.format": "1"},
                input_format=t.input_format,
                output_format=t.output_format,
            )
            for t in export.tables
        },
    )


def test_export_resources_come_after_the_table_and_are_unchanged_in_sync(tmp_path: Path) -> None:
    m = model(tmp_path, results={"export": "s3"})
    kinds = [c.kind for c in plan_fleet(m, FleetState())]
    assert kinds[:5] == ["table", "queue", "bucket", "glue database", "glue table"]
    assert acting(plan_fleet(m, export_in_sync(m))) == []
    assert model(tmp_path).export is None  # export: none models nothing of it


def test_export_drift_is_found_field_by_field(tmp_path: Path) -> None:
    m = model(tmp_path, results={"export": "s3"})
    state = export_in_sync(m)
    assert state.bucket is not None
    kms = dataclasses.replace(state, bucket=dataclasses.replace(state.bucket, encryption="aws:kms"))
    assert acting(plan_fleet(m, kms)) == []  # KMS chosen by someone is encryption too
    bare = dataclasses.replace(
        state,
        bucket=BucketState(encryption=None, public_access_blocked=False, expiry=(), tags={}),
    )
    assert acting(plan_fleet(m, bare)) == [
        (
            "update",
            "bucket",
            "plan-records-123456789012-us-east-1",
            ["encryption", "public_access_blocked", "expiry", "tags"],
        )
    ]
    table = state.glue_tables["whoami"]
    old = dataclasses.replace(table, columns=table.columns[:2], location="s3://elsewhere/")
    stale = dataclasses.replace(state, glue_tables={"whoami": old, "gone": table})
    assert acting(plan_fleet(m, stale)) == [
        ("update", "glue table", "lambdafan_plan.whoami", ["location", "columns"]),
        ("delete", "glue table", "lambdafan_plan.gone", []),
    ]


def test_glue_columns_are_learnt_never_forgotten(tmp_path: Path) -> None:
    learnt = (("size", "bigint"), ("name", "string"))
    cfg = config(tmp_path, results={"export": "s3"})
    arns = FleetArns.from_settings(cfg.to_settings(), "123456789012")
    before = fleet_model(cfg, arns, {"whoami": learnt})
    state = export_in_sync(before)
    # A run without records (or a plan that reads none): the columns stay as they are.
    assert acting(plan_fleet(fleet_model(cfg, arns), state)) == []
    # A new field joins them; a number seen as a fraction widens; nothing is dropped.
    later = fleet_model(cfg, arns, {"whoami": (("size", "double"), ("zone", "string"))})
    [change] = [c for c in plan_fleet(later, state) if c.kind == "glue table"]
    assert change.action == "update" and [f.field for f in change.fields] == ["columns"]
    assert isinstance(change.spec, GlueTableSpec)
    assert change.spec.columns[5:] == (("size", "double"), ("name", "string"), ("zone", "string"))


def test_only_this_fleets_own_glue_tables_are_deleted(tmp_path: Path) -> None:
    m = model(tmp_path, results={"export": "s3"})
    state = export_in_sync(m)
    ours = state.glue_tables["whoami"]
    assert ours.owner == "plan"
    # A view or CTAS someone made in the database (Athena's default one for the fleet), and a
    # table whose parameter names another fleet: neither is this fleet's to drop.
    theirs = dataclasses.replace(ours, parameters={"comment": "Presto View"})
    other_fleet = dataclasses.replace(ours, parameters={**ours.parameters, "lambdafan:fleet": "x"})
    assert theirs.owner is None and other_fleet.owner == "x"
    crowded = dataclasses.replace(
        state,
        glue_tables={**state.glue_tables, "gone": ours, "a_view": theirs, "x_table": other_fleet},
    )
    assert acting(plan_fleet(m, crowded)) == [("delete", "glue table", "lambdafan_plan.gone", [])]
