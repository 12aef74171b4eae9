"""Destroy: remove every resource of a fleet in reverse creation order, by name."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from botocore.exceptions import ClientError

from lambda_src import names
from lambdafan.aws import is_not_found
from lambdafan.deploy.apply import delete_schedule
from lambdafan.deploy.clients import DeployClients


def destroy_fleet(
    clients: DeployClients,
    fleet: str,
    *,
    delete_data: bool,
) -> list[tuple[str, str, bool]]:
    """Delete the fleet; resources already gone are fine. Returns (kind, name, deleted) steps.

    The results table is kept unless `delete_data`: runs are cheap to redo, history is not.
    """
    steps: list[tuple[str, str, bool]] = []

    def step(kind: str, name: str, delete: Callable[[], object]) -> None:
        try:
            delete()
            deleted = True
        except ClientError as exc:
            if not is_not_found(exc):
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
    if delete_data:
        table = names.table_name(fleet)
        step("table", table, partial(clients.dynamodb.delete_table, TableName=table))
    return steps


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
