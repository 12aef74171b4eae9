"""The fleet to deploy, as data: what the config wants, with no AWS calls.

Each spec holds exactly the fields lambdafan owns; the planner compares those with what AWS
reports, never whole documents (AWS adds defaults we did not set).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lambda_src import names, s3_export
from lambda_src.runs import worker_event_age_s
from lambda_src.table import TTL_ATTRIBUTE
from lambdafan import __version__
from lambdafan.config import Config
from lambdafan.deploy.bundle import Bundle, build_bundle
from lambdafan.deploy.export_model import Column, ExportSpec, export_spec
from lambdafan.deploy.fleet_arns import FleetArns
from lambdafan.deploy.policies import inline_policy, lambda_trust_policy
from lambdafan.deploy.requirements import Target, vendor_requirements

# Which lambdafan deployed a function: in every function's environment, read back by `status`.
VERSION_VARIABLE = "LAMBDAFAN_VERSION"

RUNTIME = "python3.12"
# Graviton: about 20% cheaper per GB-second, and the bundle is pure Python.
ARCHITECTURE = "arm64"
# Lambda retries a failed async event twice; then it goes to the on-failure destination.
ASYNC_RETRY_ATTEMPTS = 2
# The longest SQS keeps a message: a lost notification waits two weeks to be looked at.
DLQ_RETENTION_S = 14 * 24 * 3600


@dataclass(frozen=True)
class TableSpec:
    name: str
    point_in_time_recovery: bool
    tags: dict[str, str]
    ttl_attribute: str = TTL_ATTRIBUTE


@dataclass(frozen=True)
class QueueSpec:
    """The Notifier's dead-letter queue (its async on-failure destination)."""

    name: str
    retention_s: int
    tags: dict[str, str]
    sse: bool = True  # SQS-managed keys: no KMS key for the Notifier's role to be granted


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
    # Where Lambda sends an async event whose retries are exhausted: the Worker's and the
    # Director's go to the Notifier (an account failed / a run failed to start), the
    # Notifier's to the dead-letter queue. None: no EventInvokeConfig is wanted.
    on_failure: str | None = None
    retry_attempts: int = ASYNC_RETRY_ATTEMPTS
    # None: not ours to set (Lambda's default, 6 hours, stands).
    max_event_age_s: int | None = None
    # None: no reserved concurrency (an existing one is removed).
    reserved_concurrency: int | None = None


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
    dlq: QueueSpec
    log_groups: tuple[LogGroupSpec, ...]
    roles: tuple[RoleSpec, ...]
    functions: tuple[FunctionSpec, ...]
    # None: the config wants no schedule (an existing rule is then deleted).
    schedule: ScheduleSpec | None
    # The S3 export's bucket and Glue tables; None: `results.export` is none.
    export: ExportSpec | None = None


def fleet_model(
    config: Config,
    arns: FleetArns,
    export_fields: Mapping[str, Sequence[Column]] | None = None,
) -> FleetModel:
    """The desired fleet for a config, in the account and partition `arns` describes;
    `export_fields`: each script's known fields, for its Glue table's columns."""
    fleet = config.fleet
    tags = {names.FLEET_TAG: fleet}
    return FleetModel(
        fleet=fleet,
        table=TableSpec(
            name=names.table_name(fleet),
            point_in_time_recovery=config.results.point_in_time_recovery,
            tags=tags,
        ),
        dlq=QueueSpec(name=names.dlq_name(fleet), retention_s=DLQ_RETENTION_S, tags=tags),
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
        export=export_spec(config, arns, export_fields),
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
    packages = vendor_requirements(
        config.script_requirements, Target.for_lambda(RUNTIME, ARCHITECTURE)
    )
    worker_bundle = build_bundle(settings, include_scripts=True, script_packages=packages)
    plain_bundle = build_bundle(settings, include_scripts=False)
    worker = config.functions.worker
    sizes = {
        "director": config.functions.director,
        "worker": worker,
        "notifier": config.functions.notifier,
    }
    on_failure = {
        "director": arns.notifier_function_arn,  # the Notifier records "failed to start"
        "worker": arns.notifier_function_arn,  # the Notifier marks that account failed
        "notifier": arns.dlq_arn,  # nothing left to tell: keep the event where status sees it
    }
    # The version lets `status` say which lambdafan deployed the fleet, and makes the first
    # deploy after an upgrade update every function.
    environment = {"LAMBDAFAN_FLEET": settings.fleet, VERSION_VARIABLE: __version__}
    # The Worker is told its export bucket: no call to find its account, on every invocation.
    export = {s3_export.BUCKET_ENV: arns.export_bucket} if arns.export else {}
    return tuple(
        FunctionSpec(
            name=names.function_name(settings.fleet, kind),
            kind=kind,
            role_arn=arns.role_arn(kind),
            handler=names.HANDLERS[kind],
            memory=sizes[kind].memory,
            timeout=sizes[kind].timeout,
            environment={**environment, **(export if kind == "worker" else {})},
            bundle=worker_bundle if kind == "worker" else plain_bundle,
            tags=tags,
            on_failure=on_failure[kind],
            # A Worker event hours late would start an account's scripts long after its run
            # ended; the run deadline uses the same number.
            max_event_age_s=worker_event_age_s(worker.timeout) if kind == "worker" else None,
            reserved_concurrency=worker.reserved_concurrency if kind == "worker" else None,
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
