"""`lambdafan status`, gathered: does the fleet exist and match its config, when does it run
next, and how did its last run go.

Drift is the deploy plan read another way (a resource deploy would create is missing, one it
would update has drifted), so status and deploy can never disagree about what "in sync" means.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from botocore.exceptions import ClientError

from lambda_src import dynamo_store, names, table
from lambdafan import __version__
from lambdafan.aws import is_not_found
from lambdafan.config import Config
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.fleet import plan_deploy
from lambdafan.deploy.model import VERSION_VARIABLE
from lambdafan.deploy.plan import Change, ScheduleState
from lambdafan.deploy.state import queue_attributes, queue_url, read_schedule
from lambdafan.schedule import next_firing, rate_interval

ResourceState = Literal["ok", "missing", "drifted", "unwanted"]


_STATE_OF_ACTION: dict[str, ResourceState] = {
    "unchanged": "ok",
    "create": "missing",
    "update": "drifted",
    "delete": "unwanted",
}


@dataclass(frozen=True)
class ResourceStatus:
    kind: str  # as in the plan: "table", "queue", "log group", "role", "function", "schedule"
    name: str
    state: ResourceState
    fields: tuple[str, ...] = ()  # what drifted


@dataclass(frozen=True)
class ScheduleStatus:
    """The schedule the config wants and the one that actually fires."""

    wanted: str | None  # the config's expression; None: the config wants no schedule
    deployed: str | None  # the rule's expression; None: no rule exists
    enabled: bool
    next_run: datetime | None  # None: no rule, disabled, a rate(), or a cron form not computed
    every: str | None  # "every 1 day" for a rate() rule

    @property
    def fires(self) -> bool:
        return self.deployed is not None and self.enabled


@dataclass(frozen=True)
class FleetStatus:
    fleet: str
    region: str
    resources: tuple[ResourceStatus, ...]
    schedule: ScheduleStatus
    table_name: str
    table_exists: bool
    last_run: dict[str, Any] | None  # the newest run item, plain numbers
    dlq_name: str = ""
    # Messages in the Notifier's dead-letter queue: each is a notification that was lost.
    # None: the queue does not exist (reported as a missing resource).
    dlq_messages: int | None = None
    cli_version: str = __version__
    # The version that deployed the Worker's bundle; None: not recorded, or no Worker.
    deployed_version: str | None = None

    @property
    def ok(self) -> bool:
        """Everything exists and matches the config, and no notification was lost (the exit
        code of `status`)."""
        return all(r.state == "ok" for r in self.resources) and not self.dlq_messages

    @property
    def deployed(self) -> bool:
        """Whether anything of the fleet exists at all."""
        return any(r.state != "missing" for r in self.resources)

    def count(self, state: ResourceState) -> int:
        return sum(1 for r in self.resources if r.state == state)


def resource_statuses(changes: Sequence[Change]) -> tuple[ResourceStatus, ...]:
    """One status per resource of the plan, in the plan's (creation) order."""
    return tuple(
        ResourceStatus(
            kind=change.kind,
            name=change.name,
            state=_STATE_OF_ACTION[change.action],
            fields=tuple(f.field for f in change.fields),
        )
        for change in changes
    )


def schedule_status(
    changes: Sequence[Change],
    wanted: str | None,
    now: datetime,
    *,
    unwanted: ScheduleState | None = None,
) -> ScheduleStatus:
    """The schedule as deployed, from the plan's schedule change.

    `unwanted` is the rule the config no longer wants, as read from AWS: the plan only says it
    will be deleted, not what it does meanwhile.
    """
    change = next((c for c in changes if c.kind == "schedule"), None)
    deployed: str | None = None
    enabled = True
    if change is not None and change.action == "delete":
        if unwanted is not None:
            deployed, enabled = unwanted.expression, unwanted.enabled
    elif change is not None and change.action != "create":
        deployed = wanted
        for field in change.fields:
            if field.field == "expression":
                deployed = field.current
            elif field.field == "enabled":
                enabled = bool(field.current)
    return ScheduleStatus(
        wanted=wanted,
        deployed=deployed,
        enabled=enabled,
        next_run=next_firing(deployed, now) if deployed is not None and enabled else None,
        every=rate_interval(deployed) if deployed is not None else None,
    )


def gather_status(
    config: Config,
    clients: DeployClients,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> FleetStatus:
    """Read the fleet (read-only calls only) and compare it with the config."""
    plan = plan_deploy(config, clients)
    resources = resource_statuses(plan.changes)
    unwanted = None
    if any(r.kind == "schedule" and r.state == "unwanted" for r in resources):
        unwanted = read_schedule(clients, plan.model.fleet)
    table_change = next(c for c in plan.changes if c.kind == "table")
    table_exists = table_change.action != "create"
    return FleetStatus(
        fleet=plan.model.fleet,
        region=config.home_region,
        resources=resources,
        schedule=schedule_status(plan.changes, config.schedule, now(), unwanted=unwanted),
        table_name=plan.model.table.name,
        table_exists=table_exists,
        last_run=last_run(clients, plan.model.table.name) if table_exists else None,
        dlq_name=plan.model.dlq.name,
        dlq_messages=dlq_messages(clients, plan.model.dlq.name),
        deployed_version=deployed_version(clients, plan.model.fleet)
        if _exists(resources, "function", names.function_name(plan.model.fleet, "worker"))
        else None,
    )


def _exists(resources: Sequence[ResourceStatus], kind: str, name: str) -> bool:
    return any(r.kind == kind and r.name == name and r.state != "missing" for r in resources)


def deployed_version(clients: DeployClients, fleet: str) -> str | None:
    """The lambdafan version recorded in the Worker's environment (one read), if any."""
    try:
        config = clients.lambda_.get_function_configuration(
            FunctionName=names.function_name(fleet, "worker")
        )
    except ClientError as exc:
        if is_not_found(exc):  # deleted since the plan read it
            return None
        raise
    variables = (config.get("Environment") or {}).get("Variables") or {}
    version = variables.get(VERSION_VARIABLE)
    return str(version) if version else None


def dlq_messages(clients: DeployClients, queue: str) -> int | None:
    """How many failed Notifier events wait in its dead-letter queue; None without a queue."""
    url = queue_url(clients, queue)
    if url is None:
        return None
    try:
        attributes = queue_attributes(clients, url, "ApproximateNumberOfMessages")
    except ClientError as exc:
        # Deleted between the lookup and this read: same as not there.
        if is_not_found(exc):
            return None
        raise
    return int(attributes.get("ApproximateNumberOfMessages", 0))


def last_run(clients: DeployClients, table_name: str) -> dict[str, Any] | None:
    """The newest run in the fleet's table, or None when it holds none (or just vanished)."""
    store = dynamo_store.DynamoStore(clients.dynamodb, table_name)
    try:
        item = table.latest_run(store)
    except ClientError as exc:
        # Deleted between the plan's describe and this query: same as not there.
        if is_not_found(exc):
            return None
        raise
    return table.plain(item) if item is not None else None
