"""The planner: desired fleet + what AWS reports → a list of changes. Pure, no AWS calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from lambda_src import names
from lambdafan.deploy.export_model import (
    BucketSpec,
    Column,
    ExpiryRule,
    GlueDatabaseSpec,
    GlueTableSpec,
    merge_columns,
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

Action = Literal["create", "update", "unchanged", "delete"]
Spec = (
    TableSpec
    | QueueSpec
    | LogGroupSpec
    | RoleSpec
    | FunctionSpec
    | ScheduleSpec
    | BucketSpec
    | GlueDatabaseSpec
    | GlueTableSpec
)


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
class BucketState:
    encryption: str | None  # the default encryption's algorithm, None when there is none
    public_access_blocked: bool  # all four settings of the bucket's public access block on
    expiry: tuple[ExpiryRule, ...]  # our lifecycle rules (found by their ids)
    tags: dict[str, str]


@dataclass(frozen=True)
class GlueDatabaseState:
    description: str


@dataclass(frozen=True)
class GlueTableState:
    location: str
    columns: tuple[Column, ...]
    partition_keys: tuple[Column, ...]
    parameters: dict[str, str]
    serde: str
    serde_parameters: dict[str, str]
    input_format: str
    output_format: str


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


# --- changes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    field: str
    current: Any
    desired: Any


@dataclass(frozen=True)
class Change:
    action: Action
    # "table", "queue", "bucket", "glue database", "glue table", "log group", "role",
    # "function", "schedule"
    kind: str
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
        *_export_changes(model, state),
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


def _export_changes(model: FleetModel, state: FleetState) -> list[Change]:
    """The export's bucket, database and tables; a table of a script no longer in the config
    is deleted (its objects stay, and expire). Export turned off leaves everything be."""
    export = model.export
    if export is None:
        return []
    bucket, database = export.bucket, export.database
    changes = [
        _change("bucket", bucket.name, bucket, state.bucket, _bucket_fields),
        _change("glue database", database.name, database, state.glue_database, _database_fields),
    ]
    wanted = {t.name for t in export.tables}
    for table in export.tables:
        current = state.glue_tables.get(table.name)
        if current is not None:
            # Columns are learnt: the ones the table has stay, new fields join them.
            table = replace(table, columns=merge_columns(current.columns, table.columns))
        label = glue_table_label(table.database, table.name)
        changes.append(_change("glue table", label, table, current, _glue_table_fields))
    changes += [
        Change("delete", "glue table", glue_table_label(database.name, name))
        for name in sorted(state.glue_tables)
        if name not in wanted
    ]
    return changes


def glue_table_label(database: str, table: str) -> str:
    """How a plan names a Glue table: `database.table`, as Athena's SQL does."""
    return f"{database}.{table}"


def _bucket_fields(spec: BucketSpec, current: BucketState) -> list[FieldChange]:
    # SSE-KMS someone chose instead is encryption too: not ours to downgrade to SSE-S3.
    encryption = spec.encryption if current.encryption else None
    return [
        *_differ("encryption", encryption, spec.encryption),
        *_differ("public_access_blocked", current.public_access_blocked, True),
        *_differ("expiry", current.expiry, tuple(sorted(spec.expiry, key=lambda r: r.rule_id))),
        *_tags(current.tags, spec.tags),
    ]


def _database_fields(spec: GlueDatabaseSpec, current: GlueDatabaseState) -> list[FieldChange]:
    return _differ("description", current.description, spec.description)


def _subset(current: Mapping[str, str], desired: Mapping[str, str]) -> dict[str, str | None]:
    """`current`'s values of the keys we set (Glue and Athena add keys of their own)."""
    return {key: current.get(key) for key in desired}


def _glue_table_fields(spec: GlueTableSpec, current: GlueTableState) -> list[FieldChange]:
    serde_parameters = dict(spec.serde_parameters)
    return [
        *_differ("location", current.location, spec.location),
        *_differ("columns", current.columns, spec.columns),
        *_differ("partition_keys", current.partition_keys, spec.partition_keys),
        *_differ("parameters", _subset(current.parameters, spec.parameters), spec.parameters),
        *_differ("serde", current.serde, spec.serde),
        *_differ(
            "serde_parameters",
            _subset(current.serde_parameters, serde_parameters),
            serde_parameters,
        ),
        *_differ("input_format", current.input_format, spec.input_format),
        *_differ("output_format", current.output_format, spec.output_format),
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
