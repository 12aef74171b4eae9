"""Destroy: remove every resource of a fleet in reverse creation order, by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from lambda_src import names
from lambdafan.aws import error_code, is_not_found
from lambdafan.deploy.apply import delete_schedule
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.export_state import BUCKET_MISSING, GLUE_MISSING
from lambdafan.deploy.plan import glue_table_label


def destroy_fleet(
    clients: DeployClients,
    fleet: str,
    *,
    delete_data: bool,
) -> list[tuple[str, str, bool]]:
    """Delete the fleet; resources already gone are fine. Returns (kind, name, deleted) steps.

    The results table and the export bucket are kept unless `delete_data`: runs are cheap to
    redo, history is not. The Glue tables over the bucket go either way (deploy remakes them).
    """
    steps: list[tuple[str, str, bool]] = []

    def step(kind: str, name: str, delete: Callable[[], object]) -> None:
        try:
            delete()
            deleted = True
        except ClientError as exc:
            code = error_code(exc)
            if not (is_not_found(exc) or code == GLUE_MISSING or code in BUCKET_MISSING):
                raise
            deleted = False
        steps.append((kind, name, deleted))

    # Targets before the rule, and the Director's permission, all in delete_schedule.
    steps.append(("schedule", names.rule_name(fleet), delete_schedule(clients, fleet)))
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
        database = names.glue_database_name(fleet)
        for table_name in _glue_tables(clients.glue, database):
            delete_table = partial(
                clients.glue.delete_table, DatabaseName=database, Name=table_name
            )
            step("glue table", glue_table_label(database, table_name), delete_table)
        step("glue database", database, partial(clients.glue.delete_database, Name=database))
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


def _glue_tables(glue: Any, database: str) -> list[str]:
    """The names of the database's tables; none when there is no database."""
    try:
        return [
            table["Name"]
            for page in glue.get_paginator("get_tables").paginate(DatabaseName=database)
            for table in page.get("TableList", [])
        ]
    except ClientError as exc:
        if error_code(exc) == GLUE_MISSING:
            return []
        raise


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
