"""A plan's changes, and how a planner compares what exists with what is wanted. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from lambdafan.deploy.export_model import BucketSpec, GlueDatabaseSpec, GlueTableSpec
from lambdafan.deploy.model import (
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


def change(
    kind: str, name: str, spec: Any, current: Any, fields: Callable[[Any, Any], list[FieldChange]]
) -> Change:
    """Create when nothing exists; else update the `fields` that differ, or nothing."""
    if current is None:
        return Change("create", kind, name, spec=spec)
    diffs = tuple(fields(spec, current))
    return Change("update" if diffs else "unchanged", kind, name, diffs, spec)


def differ(name: str, current: Any, desired: Any) -> list[FieldChange]:
    return [] if current == desired else [FieldChange(name, current, desired)]


def our_tags(current: Mapping[str, str], desired: Mapping[str, str]) -> list[FieldChange]:
    """Only our tags count: tags someone else added are left alone."""
    missing = {k: v for k, v in desired.items() if current.get(k) != v}
    return [FieldChange("tags", {k: current.get(k) for k in missing}, missing)] if missing else []
