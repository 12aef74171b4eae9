"""Destroy: remove every resource of a fleet in reverse creation order, by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from botocore.exceptions import ClientError

from lambda_src import names
from lambdafan.aws import error_code, is_not_found
from lambdafan.deploy.apply import delete_schedule
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.export_plan import glue_table_label
from lambdafan.deploy.export_state import BUCKET_MISSING, GLUE_MISSING, read_glue_tables

Deleter = Callable[[str, str, Callable[[], object]], None]  # runs one deletion, noting its step
Outcome = Literal["deleted", "already gone", "kept"]
Step = tuple[str, str, Outcome]  # (kind, name, outcome), as destroy prints them
DELETED: Outcome = "deleted"
GONE: Outcome = "already gone"
KEPT: Outcome = "kept"


def destroy_fleet(
    clients: DeployClients,
    fleet: str,
    *,
    delete_data: bool,
) -> list[Step]:
    """Delete the fleet; resources already gone are fine. Returns (kind, name, outcome) steps:
    deleted, already gone, or kept (a Glue database holding tables the fleet did not make).

    The results table and the export bucket are kept unless `delete_data`: runs are cheap to
    redo, history is not. The Glue tables the fleet made go either way (deploy remakes them),
    and their database unless someone else's tables are in it.
    """
    steps: list[Step] = []

    def step(kind: str, name: str, delete: Callable[[], object]) -> None:
        try:
            delete()
            outcome = DELETED
        except ClientError as exc:
            code = error_code(exc)
            if not (is_not_found(exc) or code == GLUE_MISSING or code in BUCKET_MISSING):
                raise
            outcome = GONE
        steps.append((kind, name, outcome))

    # Targets before the rule, and the Director's permission, all in delete_schedule.
    rule = names.rule_name(fleet)
    steps.append(("schedule", rule, DELETED if delete_schedule(clients, fleet) else GONE))
    functions = [names.function_name(fleet, kind) for kind in names.KINDS]
    roles = [names.role_name(fleet, kind) for kind in names.KINDS]
    groups = [names.log_group_name(fleet, kind) for kind in names.KINDS]
    for function in functions:
        step("function", function, partial(clients.lambda_.delete_function, FunctionName=function))
    for role in roles:
        step("role", role, partial(_delete_role, clients, role))
    for group in groups:
        step("log group", group, partial(clients.logs.delete_log_group, logGroupName=group))
    # After the Notifier, whose failures it receives. Deleting it also deletes any lost
    # notifications still in it: they are only ever a sign of a past failure.
    queue = names.dlq_name(fleet)
    step("queue", queue, partial(_delete_queue, clients, queue))
    if clients.glue is not None:
        steps += _destroy_glue(clients.glue, fleet, step)  # and a step for a kept database
    if delete_data:
        table = names.table_name(fleet)
        step("table", table, partial(clients.dynamodb.delete_table, TableName=table))
        if clients.s3 is not None:
            bucket = export_bucket(clients, fleet)
            step("bucket", bucket, partial(_delete_bucket, clients.s3, bucket))
    return steps


def export_bucket(clients: DeployClients, fleet: str) -> str:
    """The fleet's export bucket, in the account of the credentials and the clients' region."""
    account = clients.sts.get_caller_identity()["Account"]
    return names.export_bucket_name(fleet, account, clients.s3.meta.region_name)


def _destroy_glue(glue: Any, fleet: str, step: Deleter) -> list[Step]:
    """Drop the tables this fleet made, then the database unless tables someone else made are
    left in it (a view in Athena's default database for `query`, say): a step says so."""
    database = names.glue_database_name(fleet)
    tables = read_glue_tables(glue, database)
    for name, table in tables.items():
        if table.owner == fleet:
            label = glue_table_label(database, name)
            step("glue table", label, partial(glue.delete_table, DatabaseName=database, Name=name))
    others = sorted(name for name, table in tables.items() if table.owner != fleet)
    if others:
        them = f"{len(others)} table{'s' if len(others) > 1 else ''}"
        why = f"{database} (it holds {them} this fleet did not make: {', '.join(others)})"
        return [("glue database", why, KEPT)]
    step("glue database", database, partial(glue.delete_database, Name=database))
    return []


def _delete_bucket(s3: Any, bucket: str) -> None:
    # A bucket must be empty to go: every object, and every version should someone have
    # turned versioning on.
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:  # at most 1,000 a page: what one delete_objects takes
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})
    s3.delete_bucket(Bucket=bucket)


def _delete_queue(clients: DeployClients, queue: str) -> None:
    # get_queue_url raises the not-found error `step` expects when the queue is gone.
    url = clients.sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    clients.sqs.delete_queue(QueueUrl=url)


def _delete_role(clients: DeployClients, role: str) -> None:
    iam = clients.iam
    # A role with inline or attached policies cannot be deleted.
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role):
        for policy in page["PolicyNames"]:
            iam.delete_role_policy(RoleName=role, PolicyName=policy)
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role):
        for policy in page["AttachedPolicies"]:
            iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"])
    iam.delete_role(RoleName=role)
