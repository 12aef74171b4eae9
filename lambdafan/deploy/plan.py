"""The planner: desired fleet + what AWS reports → a list of changes. Pure, no AWS calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lambda_src import names
from lambdafan.deploy.model import (
    FleetModel,
    FunctionSpec,
    LogGroupSpec,
    QueueSpec,
    RoleSpec,
    ScheduleSpec,
    TableSpec,
)

Action = Literal["create", "update", "unchanged", "delete"]
Spec = TableSpec | QueueSpec | LogGroupSpec | RoleSpec | FunctionSpec | ScheduleSpec


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


# --- changes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    field: str
    current: Any
    desired: Any


@dataclass(frozen=True)
class Change:
    action: Action
    kind: str  # "table", "queue", "log group", "role", "function", "schedule"
    name: str
    fields: tuple[FieldChange, ...] = ()
    spec: Spec | None = None

    def changes(self, name: str) -> bool:
        """Whether this update touches field `name`."""
        return any(f.field == name for f in self.fields)


def plan_fleet(model: FleetModel, state: FleetState) -> list[Change]:
    """Every resource of the fleet, in creation order, with what must happen to it."""
    changes = [
        _change("table", model.table.name, model.table, state.table, _table_fields),
        # Before the Notifier: its on-failure destination must exist.
        _change("queue", model.dlq.name, model.dlq, state.dlq, _queue_fields),
    ]
    changes += [
        _change("log group", g.name, g, state.log_groups.get(g.name), _log_group_fields)
        for g in model.log_groups
    ]
    changes += [
        _change("role", r.name, r, state.roles.get(r.name), _role_fields) for r in model.roles
    ]
    changes += [
        _change("function", f.name, f, state.functions.get(f.name), _function_fields)
        for f in model.functions
    ]
    if model.schedule is not None:
        changes.append(
            _change(
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


def _change(kind: str, name: str, spec: Any, current: Any, fields: Any) -> Change:
    if current is None:
        return Change("create", kind, name, spec=spec)
    diffs = tuple(fields(spec, current))
    return Change("update" if diffs else "unchanged", kind, name, diffs, spec)


def _differ(name: str, current: Any, desired: Any) -> list[FieldChange]:
    return [] if current == desired else [FieldChange(name, current, desired)]


def _tags(current: Mapping[str, str], desired: Mapping[str, str]) -> list[FieldChange]:
    """Only our tags count: tags someone else added are left alone."""
    missing = {k: v for k, v in desired.items() if current.get(k) != v}
    return [FieldChange("tags", {k: current.get(k) for k in missing}, missing)] if missing else []


def _table_fields(spec: TableSpec, current: TableState) -> list[FieldChange]:
    return [
        *_differ(
            "point_in_time_recovery", current.point_in_time_recovery, spec.point_in_time_recovery
        ),
        *_differ("ttl_attribute", current.ttl_attribute, spec.ttl_attribute),
        *_tags(current.tags, spec.tags),
    ]


def _queue_fields(spec: QueueSpec, current: QueueState) -> list[FieldChange]:
    return [
        *_differ("retention_s", current.retention_s, spec.retention_s),
        *_differ("sse", current.sse, spec.sse),
        *_tags(current.tags, spec.tags),
    ]


def _log_group_fields(spec: LogGroupSpec, current: LogGroupState) -> list[FieldChange]:
    return [
        *_differ("retention_days", current.retention_days, spec.retention_days),
        *_tags(current.tags, spec.tags),
    ]


def _role_fields(spec: RoleSpec, current: RoleState) -> list[FieldChange]:
    inline = current.policies.get(spec.policy_name)
    return [
        *_differ(
            "trust_policy",
            normalize_policy(current.trust_policy),
            normalize_policy(spec.trust_policy),
        ),
        *_differ(
            "policy",
            None if inline is None else normalize_policy(inline),
            normalize_policy(spec.policy),
        ),
        *_tags(current.tags, spec.tags),
    ]


# Configuration fields, updated together by one update_function_configuration call.
FUNCTION_CONFIG_FIELDS = ("role_arn", "handler", "memory", "timeout", "environment", "runtime")


def _function_fields(spec: FunctionSpec, current: FunctionState) -> list[FieldChange]:
    return [
        *_differ("role_arn", current.role_arn, spec.role_arn),
        *_differ("handler", current.handler, spec.handler),
        *_differ("memory", current.memory, spec.memory),
        *_differ("timeout", current.timeout, spec.timeout),
        *_differ("environment", current.environment, spec.environment),
        *_differ("runtime", current.runtime, spec.runtime),
        # Architecture can only change together with the code.
        *_differ("code", current.code_sha256, spec.bundle.sha256),
        *_differ("architecture", current.architecture, spec.architecture),
        *_differ("on_failure", current.on_failure, spec.on_failure),
        *_event_invoke_fields(spec, current),
        *_differ("reserved_concurrency", current.reserved_concurrency, spec.reserved_concurrency),
        *_tags(current.tags, spec.tags),
    ]


# The fields one put_function_event_invoke_config call sets (it replaces the whole config).
EVENT_INVOKE_FIELDS = ("on_failure", "retry_attempts", "max_event_age_s")


def _event_invoke_fields(spec: FunctionSpec, current: FunctionState) -> list[FieldChange]:
    """Retries and event age count only where we set them: with a destination, and an age
    only where the spec names one (elsewhere Lambda's default is not ours to compare)."""
    if spec.on_failure is None:
        return []
    changes = _differ("retry_attempts", current.retry_attempts, spec.retry_attempts)
    if spec.max_event_age_s is not None:
        changes += _differ("max_event_age_s", current.max_event_age_s, spec.max_event_age_s)
    return changes


def _schedule_fields(spec: ScheduleSpec, current: ScheduleState) -> list[FieldChange]:
    return [
        *_differ("expression", current.expression, spec.expression),
        *_differ("enabled", current.enabled, True),
        *_differ("target", current.target_arns, (spec.director_arn,)),
        *_differ("permission", current.has_permission, True),
        *_tags(current.tags, spec.tags),
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
