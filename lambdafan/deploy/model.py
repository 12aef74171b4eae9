"""The fleet to deploy, as data: what the config wants, with no AWS calls.

Each spec holds exactly the fields lambdafan owns; the planner compares those with what AWS
reports, never whole documents (AWS adds defaults we did not set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambda_src import names
from lambda_src.table import TTL_ATTRIBUTE
from lambdafan.config import Config
from lambdafan.deploy.bundle import Bundle, build_bundle
from lambdafan.deploy.policies import FleetArns, inline_policy, lambda_trust_policy

RUNTIME = "python3.12"
# Graviton: about 20% cheaper per GB-second, and the bundle is pure Python.
ARCHITECTURE = "arm64"


@dataclass(frozen=True)
class TableSpec:
    name: str
    point_in_time_recovery: bool
    tags: dict[str, str]
    ttl_attribute: str = TTL_ATTRIBUTE


@dataclass(frozen=True)
class LogGroupSpec:
    name: str
    retention_days: int
    tags: dict[str, str]


@dataclass(frozen=True)
class RoleSpec:
    name: str
    trust_policy: dict[str, Any]
    policy_name: str
    policy: dict[str, Any]
    tags: dict[str, str]


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    kind: str
    role_arn: str
    handler: str
    memory: int
    timeout: int
    environment: dict[str, str]
    bundle: Bundle
    tags: dict[str, str]
    runtime: str = RUNTIME
    architecture: str = ARCHITECTURE
    # Where Lambda sends an async event whose retries are exhausted (the Worker's go to the
    # Notifier, which marks that account failed so the run still completes).
    on_failure: str | None = None


@dataclass(frozen=True)
class ScheduleSpec:
    rule_name: str
    expression: str
    director_arn: str
    permission_id: str
    tags: dict[str, str]


@dataclass(frozen=True)
class FleetModel:
    """Everything one fleet consists of, in the order it is created."""

    fleet: str
    table: TableSpec
    log_groups: tuple[LogGroupSpec, ...]
    roles: tuple[RoleSpec, ...]
    functions: tuple[FunctionSpec, ...]
    # None: the config wants no schedule (an existing rule is then deleted).
    schedule: ScheduleSpec | None


def fleet_model(config: Config, arns: FleetArns) -> FleetModel:
    """The desired fleet for a config, in the account and partition `arns` describes."""
    fleet = config.fleet
    tags = {names.FLEET_TAG: fleet}
    return FleetModel(
        fleet=fleet,
        table=TableSpec(
            name=names.table_name(fleet),
            point_in_time_recovery=config.results.point_in_time_recovery,
            tags=tags,
        ),
        log_groups=tuple(
            LogGroupSpec(
                name=names.log_group_name(fleet, kind),
                retention_days=config.functions.log_retention_days,
                tags=tags,
            )
            for kind in names.KINDS
        ),
        roles=_roles(arns, tags),
        functions=_functions(config, arns, tags),
        schedule=_schedule(config, arns, tags),
    )


def _roles(arns: FleetArns, tags: dict[str, str]) -> tuple[RoleSpec, ...]:
    return tuple(
        RoleSpec(
            name=names.role_name(arns.fleet, kind),
            trust_policy=lambda_trust_policy(),
            policy_name=names.inline_policy_name(arns.fleet, kind),
            policy=inline_policy(kind, arns),
            tags=tags,
        )
        for kind in names.KINDS
    )


def _functions(config: Config, arns: FleetArns, tags: dict[str, str]) -> tuple[FunctionSpec, ...]:
    settings = config.to_settings()
    # Scripts only go to the Worker, so editing one re-uploads the Worker's code alone.
    worker_bundle = build_bundle(settings, include_scripts=True)
    plain_bundle = build_bundle(settings, include_scripts=False)
    sizes = {
        "director": config.functions.director,
        "worker": config.functions.worker,
        "notifier": config.functions.notifier,
    }
    return tuple(
        FunctionSpec(
            name=names.function_name(settings.fleet, kind),
            kind=kind,
            role_arn=arns.role_arn(kind),
            handler=names.HANDLERS[kind],
            memory=sizes[kind].memory,
            timeout=sizes[kind].timeout,
            environment={"LAMBDAFAN_FLEET": settings.fleet},
            bundle=worker_bundle if kind == "worker" else plain_bundle,
            tags=tags,
            on_failure=arns.notifier_function_arn if kind == "worker" else None,
        )
        for kind in names.KINDS
    )


def _schedule(config: Config, arns: FleetArns, tags: dict[str, str]) -> ScheduleSpec | None:
    if not config.schedule:
        return None
    return ScheduleSpec(
        rule_name=names.rule_name(config.fleet),
        expression=config.schedule,
        director_arn=arns.director_function_arn,
        permission_id=names.permission_id(config.fleet),
        tags=tags,
    )
