"""The applier: runs a plan's changes in order, with the waits and retries AWS needs.

Every trap from DESIGN.md is handled here, once: role propagation, functions busy updating,
add_permission's lack of idempotency, put_targets' silent failures, TTL's update-once rule.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lambda_src import names
from lambda_src.table import table_definition
from lambdafan.aws import describe_error, is_not_found
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.export_apply import apply_bucket, apply_glue_database, apply_glue_table
from lambdafan.deploy.model import (
    FunctionSpec,
    LogGroupSpec,
    QueueSpec,
    RoleSpec,
    ScheduleSpec,
    TableSpec,
)
from lambdafan.deploy.plan import EVENT_INVOKE_FIELDS, FUNCTION_CONFIG_FIELDS, Change
from lambdafan.deploy.retry import (
    Sleep,
    destination_not_permitted_yet,
    function_busy,
    retrying,
    role_not_assumable_yet,
)
from lambdafan.deploy.state import has_permission, queue_url
from lambdafan.errors import LambdafanError

SCHEDULE_TARGET_ID = "director"


class DeployError(LambdafanError):
    """AWS refused part of a deploy."""


class DeployStopped(DeployError):
    """AWS failed one change: the changes before it stand, and the same deploy finishes the job."""


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


class Applier:
    """Creates and updates the resources of one fleet."""

    def __init__(
        self,
        clients: DeployClients,
        fleet: str,
        *,
        sleep: Sleep = time.sleep,
        on_change: Callable[[Change], None] | None = None,
    ) -> None:
        self.clients = clients
        self.fleet = fleet
        self.sleep = sleep
        self.on_change = on_change

    def apply(self, changes: Sequence[Change]) -> None:
        """Run every change that is not `unchanged`, in the plan's (dependency) order.

        An AWS failure stops the deploy with a DeployError naming the change it stopped at.
        """
        for change in changes:
            if change.action == "unchanged":
                continue
            try:
                self._apply(change)
            except (ClientError, BotoCoreError) as exc:
                reason = describe_error(exc) if isinstance(exc, ClientError) else str(exc)
                # Every change is found again by name, so the next deploy plans what is left.
                raise DeployStopped(
                    f"deploy stopped at {change.action} {change.kind} {change.name}: AWS {reason}"
                ) from exc
            if self.on_change:
                self.on_change(change)

    def _apply(self, change: Change) -> None:
        appliers: dict[str, Callable[[Change], None]] = {
            "table": self._table,
            "queue": self._queue,
            "log group": self._log_group,
            "role": self._role,
            "function": self._function,
            "schedule": self._schedule,
            "bucket": partial(apply_bucket, self.clients.s3),
            "glue database": partial(apply_glue_database, self.clients.glue),
            "glue table": partial(apply_glue_table, self.clients.glue),
        }
        appliers[change.kind](change)

    # --- table ---------------------------------------------------------------------------

    def _table(self, change: Change) -> None:
        spec = change.spec
        assert isinstance(spec, TableSpec)
        db = self.clients.dynamodb
        if change.action == "create":
            db.create_table(
                **table_definition(spec.name),
                SSESpecification={"Enabled": True},
                Tags=_tag_list(spec.tags),
            )
            db.get_waiter("table_exists").wait(TableName=spec.name)
            self._ensure_ttl(spec)
            if spec.point_in_time_recovery:
                self._set_pitr(spec)
            return
        if change.changes("ttl_attribute"):
            self._ensure_ttl(spec)
        if change.changes("point_in_time_recovery"):
            self._set_pitr(spec)
        if change.changes("tags"):
            arn = db.describe_table(TableName=spec.name)["Table"]["TableArn"]
            db.tag_resource(ResourceArn=arn, Tags=_tag_list(spec.tags))

    def _ensure_ttl(self, spec: TableSpec) -> None:
        db = self.clients.dynamodb
        # update_time_to_live fails when TTL is already enabled: look first.
        ttl = db.describe_time_to_live(TableName=spec.name)["TimeToLiveDescription"]
        status = ttl.get("TimeToLiveStatus")
        if status in ("ENABLED", "ENABLING"):
            if ttl.get("AttributeName") == spec.ttl_attribute:
                return
            raise DeployError(
                f"TTL on table {spec.name} uses attribute {ttl.get('AttributeName')!r}, "
                f"lambdafan needs {spec.ttl_attribute!r}: disable TTL on the table, then deploy "
                "again (AWS allows one TTL change per hour)"
            )
        if status == "DISABLING":
            raise DeployError(
                f"TTL on table {spec.name} is being disabled: deploy again once it is off "
                "(up to an hour)"
            )
        db.update_time_to_live(
            TableName=spec.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )

    def _set_pitr(self, spec: TableSpec) -> None:
        self.clients.dynamodb.update_continuous_backups(
            TableName=spec.name,
            PointInTimeRecoverySpecification={
                "PointInTimeRecoveryEnabled": spec.point_in_time_recovery
            },
        )

    # --- the Notifier's dead-letter queue ------------------------------------------------

    def _queue(self, change: Change) -> None:
        spec = change.spec
        assert isinstance(spec, QueueSpec)
        sqs = self.clients.sqs
        attributes = {
            "MessageRetentionPeriod": str(spec.retention_s),
            "SqsManagedSseEnabled": "true" if spec.sse else "false",
        }
        if change.action == "create":
            sqs.create_queue(QueueName=spec.name, Attributes=attributes, tags=spec.tags)
            return
        url = queue_url(self.clients, spec.name)
        if url is None:
            raise DeployError(f"queue {spec.name} vanished during the deploy: deploy again")
        if change.changes("retention_s") or change.changes("sse"):
            sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        if change.changes("tags"):
            sqs.tag_queue(QueueUrl=url, Tags=spec.tags)

    # --- log groups ----------------------------------------------------------------------

    def _log_group(self, change: Change) -> None:
        spec = change.spec
        assert isinstance(spec, LogGroupSpec)
        logs = self.clients.logs
        if change.action == "create":
            logs.create_log_group(logGroupName=spec.name, tags=spec.tags)
        elif change.changes("tags"):
            logs.tag_log_group(logGroupName=spec.name, tags=spec.tags)
        if change.action == "create" or change.changes("retention_days"):
            logs.put_retention_policy(logGroupName=spec.name, retentionInDays=spec.retention_days)

    # --- roles ---------------------------------------------------------------------------

    def _role(self, change: Change) -> None:
        spec = change.spec
        assert isinstance(spec, RoleSpec)
        iam = self.clients.iam
        if change.action == "create":
            iam.create_role(
                RoleName=spec.name,
                AssumeRolePolicyDocument=json.dumps(spec.trust_policy),
                Description=f"lambdafan fleet {spec.tags.get(names.FLEET_TAG, '')}",
                Tags=_tag_list(spec.tags),
            )
        else:
            if change.changes("trust_policy"):
                iam.update_assume_role_policy(
                    RoleName=spec.name, PolicyDocument=json.dumps(spec.trust_policy)
                )
            if change.changes("tags"):
                iam.tag_role(RoleName=spec.name, Tags=_tag_list(spec.tags))
        if change.action == "create" or change.changes("policy"):
            iam.put_role_policy(
                RoleName=spec.name,
                PolicyName=spec.policy_name,
                PolicyDocument=json.dumps(spec.policy),
            )

    # --- functions -----------------------------------------------------------------------

    def _function(self, change: Change) -> None:
        spec = change.spec
        assert isinstance(spec, FunctionSpec)
        if change.action == "create":
            self._create_function(spec)
            # A new function has no async config or cap to remove: set only what is wanted.
            if spec.on_failure is not None:
                self._set_event_invoke(spec)
            if spec.reserved_concurrency is not None:
                self._set_concurrency(spec)
            return
        lam = self.clients.lambda_
        if any(change.changes(f) for f in FUNCTION_CONFIG_FIELDS):
            retrying(
                lambda: lam.update_function_configuration(**self._configuration(spec)),
                lambda exc: function_busy(exc) or role_not_assumable_yet(exc),
                self.sleep,
            )
            self._wait_updated(spec.name)
        if change.changes("code") or change.changes("architecture"):
            retrying(
                lambda: lam.update_function_code(
                    FunctionName=spec.name,
                    ZipFile=spec.bundle.data,
                    Architectures=[spec.architecture],
                ),
                function_busy,
                self.sleep,
            )
            self._wait_updated(spec.name)
        if any(change.changes(f) for f in EVENT_INVOKE_FIELDS):
            self._set_event_invoke(spec)
        if change.changes("reserved_concurrency"):
            self._set_concurrency(spec)
        if change.changes("tags"):
            arn = lam.get_function(FunctionName=spec.name)["Configuration"]["FunctionArn"]
            lam.tag_resource(Resource=arn, Tags=spec.tags)

    def _set_event_invoke(self, spec: FunctionSpec) -> None:
        """The function's async retries, event age and on-failure destination, in one call
        (the put replaces the whole config); no destination wanted: no config at all."""
        lam = self.clients.lambda_
        if spec.on_failure is None:
            try:
                lam.delete_function_event_invoke_config(FunctionName=spec.name)
            except ClientError as exc:
                if not is_not_found(exc):
                    raise
            return
        settings: dict[str, Any] = {
            "FunctionName": spec.name,
            "MaximumRetryAttempts": spec.retry_attempts,
            "DestinationConfig": {"OnFailure": {"Destination": spec.on_failure}},
        }
        if spec.max_event_age_s is not None:
            settings["MaximumEventAgeInSeconds"] = spec.max_event_age_s
        retrying(
            lambda: lam.put_function_event_invoke_config(**settings),
            lambda exc: function_busy(exc) or destination_not_permitted_yet(exc),
            self.sleep,
        )

    def _set_concurrency(self, spec: FunctionSpec) -> None:
        lam = self.clients.lambda_
        if spec.reserved_concurrency is not None:
            lam.put_function_concurrency(
                FunctionName=spec.name, ReservedConcurrentExecutions=spec.reserved_concurrency
            )
            return
        lam.delete_function_concurrency(FunctionName=spec.name)

    def _configuration(self, spec: FunctionSpec) -> dict[str, Any]:
        return {
            "FunctionName": spec.name,
            "Role": spec.role_arn,
            "Handler": spec.handler,
            "Runtime": spec.runtime,
            "MemorySize": spec.memory,
            "Timeout": spec.timeout,
            "Environment": {"Variables": spec.environment},
        }

    def _create_function(self, spec: FunctionSpec) -> None:
        lam = self.clients.lambda_
        retrying(
            lambda: lam.create_function(
                **self._configuration(spec),
                Code={"ZipFile": spec.bundle.data},
                Architectures=[spec.architecture],
                Tags=spec.tags,
                Description=f"lambdafan {spec.kind} of fleet {spec.tags.get(names.FLEET_TAG, '')}",
            ),
            role_not_assumable_yet,
            self.sleep,
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=spec.name)

    def _wait_updated(self, name: str) -> None:
        # The next update of a function fails with ResourceConflictException until this one is done.
        self.clients.lambda_.get_waiter("function_updated_v2").wait(FunctionName=name)

    # --- schedule ------------------------------------------------------------------------

    def _schedule(self, change: Change) -> None:
        if change.action == "delete":
            delete_schedule(self.clients, self.fleet)
            return
        spec = change.spec
        assert isinstance(spec, ScheduleSpec)
        events = self.clients.events
        if change.action == "create" or change.changes("expression") or change.changes("enabled"):
            rule_arn = events.put_rule(
                Name=spec.rule_name,
                ScheduleExpression=spec.expression,
                State="ENABLED",
                Description="lambdafan: starts the Director",
                Tags=_tag_list(spec.tags),
            )["RuleArn"]
        else:
            rule_arn = events.describe_rule(Name=spec.rule_name)["Arn"]
        if change.action == "create" or change.changes("target"):
            response = events.put_targets(
                Rule=spec.rule_name, Targets=[{"Id": SCHEDULE_TARGET_ID, "Arn": spec.director_arn}]
            )
            # put_targets reports failures in the response instead of raising.
            if response.get("FailedEntryCount"):
                failed = response.get("FailedEntries", [])
                raise DeployError(f"schedule target not set on {spec.rule_name}: {failed}")
        if change.action == "create" or change.changes("permission"):
            self._allow_rule(spec, rule_arn)
        if change.action == "update" and change.changes("tags"):
            events.tag_resource(ResourceARN=rule_arn, Tags=_tag_list(spec.tags))

    def _allow_rule(self, spec: ScheduleSpec, rule_arn: str) -> None:
        director = names.function_name(self.fleet, "director")
        # add_permission is not idempotent: a second identical statement id is an error.
        if has_permission(self.clients, director, self.fleet):
            return
        self.clients.lambda_.add_permission(
            FunctionName=director,
            StatementId=spec.permission_id,
            Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com",
            SourceArn=rule_arn,
        )


def delete_schedule(clients: DeployClients, fleet: str) -> bool:
    """Remove the rule's targets, the rule and the Director's permission; False if no rule."""
    events = clients.events
    rule_name = names.rule_name(fleet)
    try:
        targets = events.list_targets_by_rule(Rule=rule_name).get("Targets", [])
    except ClientError as exc:
        if not is_not_found(exc):
            raise
        return False
    # A rule with targets cannot be deleted.
    if targets:
        events.remove_targets(Rule=rule_name, Ids=[t["Id"] for t in targets])
    events.delete_rule(Name=rule_name)
    try:
        clients.lambda_.remove_permission(
            FunctionName=names.function_name(fleet, "director"),
            StatementId=names.permission_id(fleet),
        )
    except ClientError as exc:
        if not is_not_found(exc):
            raise
    return True
