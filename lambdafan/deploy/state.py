"""Read what exists of a fleet, by deterministic name: the only AWS calls the planner needs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

from botocore.exceptions import ClientError

from lambda_src import names
from lambdafan.aws import is_not_found
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.export_state import read_bucket, read_glue_database, read_glue_tables
from lambdafan.deploy.model import FleetModel
from lambdafan.deploy.plan import (
    FleetState,
    FunctionState,
    LogGroupState,
    QueueState,
    RoleState,
    ScheduleState,
    TableState,
)

T = TypeVar("T")

# A fleet is twelve resources (fifteen reads with the S3 export), each read by a short chain
# of calls (a role's is four): all at once. Each service has at most four of them, inside
# botocore's pool of ten.
READ_THREADS = 15


def read_fleet_state(model: FleetModel, clients: DeployClients) -> FleetState:
    """Describe every resource the model names (read-only calls only), all at once; an error
    surfaces as when they were read one by one: the first in this order."""
    pool = ThreadPoolExecutor(max_workers=READ_THREADS, thread_name_prefix="lambdafan-read")
    try:
        log_groups = {
            g.name: pool.submit(read_log_group, clients, g.name) for g in model.log_groups
        }
        roles = {r.name: pool.submit(read_role, clients, r.name) for r in model.roles}
        functions = {f.name: pool.submit(read_function, clients, f.name) for f in model.functions}
        table = pool.submit(read_table, clients, model.table.name)
        dlq = pool.submit(read_queue, clients, model.dlq.name)
        schedule = pool.submit(read_schedule, clients, model.fleet)
        export = model.export
        if export is not None:
            bucket = pool.submit(read_bucket, clients.s3, export.bucket.name)
            database = pool.submit(read_glue_database, clients.glue, export.database.name)
            tables = pool.submit(read_glue_tables, clients.glue, export.database.name)
        state = FleetState(
            log_groups=_existing(log_groups),
            roles=_existing(roles),
            functions=_existing(functions),
            table=table.result(),
            dlq=dlq.result(),
            schedule=schedule.result(),
        )
        if export is None:
            return state
        return replace(
            state,
            bucket=bucket.result(),
            glue_database=database.result(),
            glue_tables=tables.result(),
        )
    finally:
        # After an error (or Ctrl-C) the reads still queued are dropped, not waited for.
        pool.shutdown(wait=False, cancel_futures=True)


def _existing(reads: Mapping[str, Future[T | None]]) -> dict[str, T]:
    """The resources that exist, by name; the first read that failed raises."""
    states = {name: read.result() for name, read in reads.items()}
    return {name: state for name, state in states.items() if state is not None}


def read_table(clients: DeployClients, name: str) -> TableState | None:
    db = clients.dynamodb
    try:
        table = db.describe_table(TableName=name)["Table"]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    ttl = db.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    backups = db.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    pitr = backups.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    tags = db.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags", [])
    return TableState(
        point_in_time_recovery=pitr == "ENABLED",
        ttl_attribute=ttl.get("AttributeName")
        if ttl.get("TimeToLiveStatus") == "ENABLED"
        else None,
        tags={t["Key"]: t["Value"] for t in tags},
    )


def queue_url(clients: DeployClients, name: str) -> str | None:
    """The queue's URL (what every SQS call takes), or None when there is no such queue."""
    try:
        url: str = clients.sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    return url


def queue_attributes(clients: DeployClients, url: str, *names_: str) -> dict[str, str]:
    """Some of a queue's attributes, as SQS reports them (text)."""
    response = clients.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names_))
    return dict(response.get("Attributes", {}))


def read_queue(clients: DeployClients, name: str) -> QueueState | None:
    url = queue_url(clients, name)
    if url is None:
        return None
    attributes = queue_attributes(clients, url, "MessageRetentionPeriod", "SqsManagedSseEnabled")
    tags = clients.sqs.list_queue_tags(QueueUrl=url).get("Tags", {})
    return QueueState(
        retention_s=int(attributes.get("MessageRetentionPeriod", 0)),
        sse=attributes.get("SqsManagedSseEnabled") == "true",
        tags=dict(tags),
    )


def read_log_group(clients: DeployClients, name: str) -> LogGroupState | None:
    groups = clients.logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    group = next((g for g in groups if g["logGroupName"] == name), None)
    if group is None:
        return None
    tags = clients.logs.list_tags_log_group(logGroupName=name).get("tags", {})
    return LogGroupState(retention_days=group.get("retentionInDays"), tags=dict(tags))


def read_role(clients: DeployClients, name: str) -> RoleState | None:
    iam = clients.iam
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    policies: dict[str, dict[str, Any]] = {}
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
        for policy_name in page["PolicyNames"]:
            document = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
            policies[policy_name] = _document(document)
    tags = iam.list_role_tags(RoleName=name).get("Tags", [])
    return RoleState(
        trust_policy=_document(role["AssumeRolePolicyDocument"]),
        policies=policies,
        tags={t["Key"]: t["Value"] for t in tags},
    )


def _document(document: Any) -> dict[str, Any]:
    """boto3 decodes policy documents to dicts; some endpoints hand back JSON text."""
    if isinstance(document, str):
        from urllib.parse import unquote

        parsed: dict[str, Any] = json.loads(unquote(document))
        return parsed
    return dict(document)


def read_function(clients: DeployClients, name: str) -> FunctionState | None:
    try:
        response = clients.lambda_.get_function(FunctionName=name)
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    config = response["Configuration"]
    invoke = _event_invoke_config(clients, name)
    return FunctionState(
        role_arn=config["Role"],
        handler=config.get("Handler", ""),
        memory=int(config["MemorySize"]),
        timeout=int(config["Timeout"]),
        environment=dict(config.get("Environment", {}).get("Variables", {})),
        code_sha256=config["CodeSha256"],
        runtime=config.get("Runtime", ""),
        architecture=(config.get("Architectures") or ["x86_64"])[0],
        tags=dict(response.get("Tags", {})),
        on_failure=invoke.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
        retry_attempts=invoke.get("MaximumRetryAttempts"),
        max_event_age_s=invoke.get("MaximumEventAgeInSeconds"),
        # GetFunction reports reserved concurrency only when some is set.
        reserved_concurrency=response.get("Concurrency", {}).get("ReservedConcurrentExecutions"),
    )


def _event_invoke_config(clients: DeployClients, function: str) -> dict[str, Any]:
    """The function's async settings ({} when it has none)."""
    try:
        config: dict[str, Any] = clients.lambda_.get_function_event_invoke_config(
            FunctionName=function
        )
    except ClientError as exc:
        if is_not_found(exc):
            return {}
        raise
    return config


def read_schedule(clients: DeployClients, fleet: str) -> ScheduleState | None:
    events = clients.events
    rule_name = names.rule_name(fleet)
    try:
        rule = events.describe_rule(Name=rule_name)
    except ClientError as exc:
        if is_not_found(exc):
            return None
        raise
    targets = events.list_targets_by_rule(Rule=rule_name).get("Targets", [])
    tags = events.list_tags_for_resource(ResourceARN=rule["Arn"]).get("Tags", [])
    return ScheduleState(
        expression=rule.get("ScheduleExpression"),
        enabled=rule.get("State") == "ENABLED",
        target_arns=tuple(sorted(t["Arn"] for t in targets)),
        has_permission=has_permission(clients, names.function_name(fleet, "director"), fleet),
        tags={t["Key"]: t["Value"] for t in tags},
    )


def has_permission(clients: DeployClients, function: str, fleet: str) -> bool:
    """Whether the Director's resource policy has the schedule's statement (add_permission is
    not idempotent, so it is read first)."""
    try:
        policy = clients.lambda_.get_policy(FunctionName=function)["Policy"]
    except ClientError as exc:
        if is_not_found(exc):
            return False
        raise
    statements = json.loads(policy).get("Statement", [])
    return any(s.get("Sid") == names.permission_id(fleet) for s in statements)
