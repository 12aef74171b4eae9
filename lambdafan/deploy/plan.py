"""The planner: desired fleet + what AWS reports → a list of changes. Pure, no AWS calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lambda_src import names
from lambdafan.deploy.changes import Action, Change, FieldChange, Spec, change, differ, our_tags
from lambdafan.deploy.export_plan import (
    BucketState,
    GlueDatabaseState,
    GlueTableState,
    export_changes,
    glue_table_label,
)
from lambdafan.deploy.model import (
    FleetModel,
    FunctionSpec,
    LogGroupSpec,
    QueueSpec,
    RoleSpec,
    ScheduleSpec,
    TableSpec,
)

# Where the other modules have long found them.
__all__ = [
    "Action",
    "BucketState",
    "Change",
    "FieldChange",
    "FleetState",
    "GlueDatabaseState",
    "GlueTableState",
    "Spec",
    "glue_table_label",
    "plan_fleet",
]


# --- what AWS reports, reduced to the fields lambdafan owns -----------------------------------


@dataclass(frozen=True)
class TableState:
    point_in_time_recovery: bool
    ttl_attribute: str | None  # the attribute TTL is enabled on, None when TTL is off
    tags: dict[str, str]


@dataclass(frozen=True)
class QueueState:
    retention_s: int
    sse: bool
    tags: dict[str, str]


@dataclass(frozen=True)
class LogGroupState:
    retention_days: int | None
    tags: dict[str, str]


@dataclass(frozen=True)
class RoleState:
    trust_policy: dict[str, Any]
    policies: dict[str, dict[str, Any]]  # inline policies by name
    tags: dict[str, str]


@dataclass(frozen=True)
class FunctionState:
    role_arn: str
    handler: str
    memory: int
    timeout: int
    environment: dict[str, str]
    code_sha256: str
    runtime: str
    architecture: str
    tags: dict[str, str]
    # From the EventInvokeConfig; all None when the function has none.
    on_failure: str | None = None
    retry_attempts: int | None = None
    max_event_age_s: int | None = None
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class ScheduleState:
    expression: str | None
    enabled: bool
    target_arns: tuple[str, ...]
    has_permission: bool
    tags: dict[str, str]


@dataclass(frozen=True)
class FleetState:
    """What exists of a fleet; a missing resource is absent (None / not in the dict)."""

    table: TableState | None = None
    dlq: QueueState | None = None
    log_groups: dict[str, LogGroupState] = field(default_factory=dict)
    roles: dict[str, RoleState] = field(default_factory=dict)
    functions: dict[str, FunctionState] = field(default_factory=dict)
    schedule: ScheduleState | None = None
    bucket: BucketState | None = None
    glue_database: GlueDatabaseState | None = None
    # The tables in the fleet's Glue database, by table name.
    glue_tables: dict[str, GlueTableState] = field(default_factory=dict)


def plan_fleet(model: FleetModel, state: FleetState) -> list[Change]:
    """Every resource of the fleet, in creation order, with what must happen to it."""
    changes = [
        change("table", model.table.name, model.table, state.table, _table_fields),
        # Before the Notifier: its on-failure destination must exist.
        change("queue", model.dlq.name, model.dlq, state.dlq, _queue_fields),
        *export_changes(
            model.fleet, model.export, state.bucket, state.glue_database, state.glue_tables
        ),
    ]
    changes += [
        change("log group", g.name, g, state.log_groups.get(g.name), _log_group_fields)
        for g in model.log_groups
    ]
    changes += [
        change("role", r.name, r, state.roles.get(r.name), _role_fields) for r in model.roles
    ]
    changes += [
        change("function", f.name, f, state.functions.get(f.name), _function_fields)
        for f in model.functions
    ]
    if model.schedule is not None:
        changes.append(
            change(
                "schedule",
                model.schedule.rule_name,
                model.schedule,
                state.schedule,
                _schedule_fields,
            )
        )
    elif state.schedule is not None:
        changes.append(Change("delete", "schedule", names.rule_name(model.fleet)))
    return changes


def _table_fields(spec: TableSpec, current: TableState) -> list[FieldChange]:
    return [
        *differ(
            "point_in_time_recovery", current.point_in_time_recovery, spec.point_in_time_recovery
        ),
        *differ("ttl_attribute", current.ttl_attribute, spec.ttl_attribute),
        *our_tags(current.tags, spec.tags),
    ]


def _queue_fields(spec: QueueSpec, current: QueueState) -> list[FieldChange]:
    return [
        *differ("retention_s", current.retention_s, spec.retention_s),
        *differ("sse", current.sse, spec.sse),
        *our_tags(current.tags, spec.tags),
    ]


def _log_group_fields(spec: LogGroupSpec, current: LogGroupState) -> list[FieldChange]:
    return [
        *differ("retention_days", current.retention_days, spec.retention_days),
        *our_tags(current.tags, spec.tags),
    ]


def _role_fields(spec: RoleSpec, current: RoleState) -> list[FieldChange]:
    inline = current.policies.get(spec.policy_name)
    return [
        *differ(
            "trust_policy",
            normalize_policy(current.trust_policy),
            normalize_policy(spec.trust_policy),
        ),
        *differ(
            "policy",
            None if inline is None else normalize_policy(inline),
            normalize_policy(spec.policy),
        ),
        *our_tags(current.tags, spec.tags),
    ]


# Configuration fields, updated together by one update_function_configuration call.
FUNCTION_CONFIG_FIELDS = ("role_arn", "handler", "memory", "timeout", "environment", "runtime")


def _function_fields(spec: FunctionSpec, current: FunctionState) -> list[FieldChange]:
    return [
        *differ("role_arn", current.role_arn, spec.role_arn),
        *differ("handler", current.handler, spec.handler),
        *differ("memory", current.memory, spec.memory),
        *differ("timeout", current.timeout, spec.timeout),
        *differ("environment", current.environment, spec.environment),
        *differ("runtime", current.runtime, spec.runtime),
        # Architecture can only change together with the code.
        *differ("code", current.code_sha256, spec.bundle.sha256),
        *differ("architecture", current.architecture, spec.architecture),
        *differ("on_failure", current.on_failure, spec.on_failure),
        *_event_invoke_fields(spec, current),
        *differ("reserved_concurrency", current.reserved_concurrency, spec.reserved_concurrency),
        *our_tags(current.tags, spec.tags),
    ]


# The fields one put_function_event_invoke_config call sets (it replaces the whole config).
EVENT_INVOKE_FIELDS = ("on_failure", "retry_attempts", "max_event_age_s")


def _event_invoke_fields(spec: FunctionSpec, current: FunctionState) -> list[FieldChange]:
    """Retries and event age count only where we set them: with a destination, and an age
    only where the spec names one (elsewhere Lambda's default is not ours to compare)."""
    if spec.on_failure is None:
        return []
    changes = differ("retry_attempts", current.retry_attempts, spec.retry_attempts)
    if spec.max_event_age_s is not None:
        changes += differ("max_event_age_s", current.max_event_age_s, spec.max_event_age_s)
    return changes


def _schedule_fields(spec: ScheduleSpec, current: ScheduleState) -> list[FieldChange]:
    return [
        *differ("expression", current.expression, spec.expression),
        *differ("enabled", current.enabled, True),
        *differ("target", current.target_arns, (spec.director_arn,)),
        *differ("permission", current.has_permission, True),
        *our_tags(current.tags, spec.tags),
    ]


def normalize_policy(document: Mapping[str, Any]) -> dict[str, Any]:
    """A policy in one canonical shape: IAM may return single-item lists as strings and
    statements in any order, which must not read as a change."""
    statements = document.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    return {
        "Version": document.get("Version"),
        "Statement": sorted(
            (_normalize_statement(s) for s in statements), key=lambda s: repr(sorted(s.items()))
        ),
    }


def _normalize_statement(statement: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in statement.items():
        if key in ("Action", "NotAction", "Resource", "NotResource"):
            result[key] = sorted([value] if isinstance(value, str) else value)
        elif key == "Principal" and isinstance(value, Mapping):
            result[key] = {
                k: sorted([v] if isinstance(v, str) else v) for k, v in sorted(value.items())
            }
        else:
            result[key] = value
    return result
