"""Deploy as the CLI runs it: identify the account (and the organization, when the config
discovers accounts through it), model the fleet, plan, apply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from botocore.exceptions import ClientError

from lambda_src import names
from lambda_src.dynamo_store import DynamoStore
from lambdafan.aws import error_code
from lambdafan.config import Config
from lambdafan.deploy.apply import Applier
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.export_fields import script_fields
from lambdafan.deploy.export_model import Column
from lambdafan.deploy.fleet_arns import FleetArns
from lambdafan.deploy.member_accounts import MemberAccountsError
from lambdafan.deploy.model import FleetModel, fleet_model
from lambdafan.deploy.plan import Change, plan_fleet
from lambdafan.deploy.state import read_fleet_state
from lambdafan.errors import LambdafanError, UsageError


@dataclass(frozen=True)
class Identity:
    """The account a fleet is deployed in, and the partition that account is in."""

    account_id: str
    partition: str

    @classmethod
    def for_account(cls, account_id: str, home_region: str) -> Identity:
        """A fleet's account given by id, in its home region's partition (no AWS call)."""
        return cls(account_id=account_id, partition=names.partition_for(home_region))


def caller_identity(clients: DeployClients) -> Identity:
    """The account (and partition) the user's credentials deploy into, as STS reports them."""
    arn = clients.sts.get_caller_identity()["Arn"]
    _, partition, _, _, account_id, _ = arn.split(":", 5)
    return Identity(account_id=account_id, partition=partition)


def read_organization_id(clients: DeployClients, account_id: str) -> str:
    """The id of the organization the deploying account is in: the Worker may assume the member
    role only in that organization's accounts."""
    try:
        return str(clients.organizations.describe_organization()["Organization"]["Id"])
    except ClientError as exc:
        code = error_code(exc)
        if code == "AWSOrganizationsNotInUseException":
            raise UsageError(
                f"organization discovery is on, but account {account_id} is not in an "
                "organization: list the accounts instead (accounts.list)"
            ) from None
        if code in ("AccessDeniedException", "AccessDenied"):
            raise LambdafanError(
                f"organization discovery is on, but account {account_id} can't read its "
                f"organization ({code}): grant organizations:DescribeOrganization, or list "
                "the accounts instead"
            ) from None
        raise


def fleet_arns(config: Config, identity: Identity, organization_id: str | None = None) -> FleetArns:
    """The fleet's ARNs in the identity's account, in the home region's partition;
    `organization_id` is needed (for the Worker's policy) when the config discovers accounts."""
    settings = config.to_settings()
    if identity.partition != settings.partition:
        raise UsageError(
            f"home_region {settings.home_region} is in partition {settings.partition}, but "
            f"account {identity.account_id} is in partition {identity.partition}: use "
            f"credentials of the {settings.partition} partition, or another home_region"
        )
    return FleetArns.from_settings(settings, identity.account_id, organization_id)


@dataclass(frozen=True)
class Plan:
    model: FleetModel
    changes: list[Change]

    @property
    def pending(self) -> list[Change]:
        """The changes apply will make (everything but `unchanged`)."""
        return [c for c in self.changes if c.action != "unchanged"]

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)


def plan_deploy(config: Config, clients: DeployClients, *, learn_fields: bool = False) -> Plan:
    """Read AWS and compare: the plan a deploy (or a dry run) shows. Read-only.

    `learn_fields` (deploy's): read the scripts' latest records for their Glue tables' columns
    (with the export on); without, the tables' columns stand as they are, so for `status` a
    new field in a run is not drift.
    """
    identity = caller_identity(clients)
    organization = None
    if config.to_settings().organization:
        organization = read_organization_id(clients, identity.account_id)
    try:
        arns = fleet_arns(config, identity, organization)
        fields = export_fields(config, clients) if learn_fields else {}
        model = fleet_model(config, arns, fields)
    except MemberAccountsError as exc:
        raise UsageError(f"accounts: {exc}") from None
    return Plan(model, plan_fleet(model, read_fleet_state(model, clients)))


def export_fields(config: Config, clients: DeployClients) -> dict[str, tuple[Column, ...]]:
    """Each script's fields from its latest records, for its Glue table (export on only)."""
    if config.results.export != "s3":
        return {}
    store = DynamoStore(clients.dynamodb, names.table_name(config.fleet))
    return script_fields(store, [path.stem for path in config.script_paths()])


class DeployObserver(Protocol):
    """Told what a deploy is doing (the CLI prints the plan and a progress bar from it)."""

    def planned(self, plan: Plan, applying: bool) -> None: ...

    def applied(self, change: Change) -> None: ...


def deploy_fleet(
    config: Config,
    clients: DeployClients,
    *,
    dry_run: bool = False,
    observer: DeployObserver | None = None,
) -> Plan:
    """Plan the fleet and, unless `dry_run` or nothing changed, apply the plan; returns it."""
    plan = plan_deploy(config, clients, learn_fields=True)
    applying = plan.has_changes and not dry_run
    if observer is not None:
        observer.planned(plan, applying)
    if applying:
        on_change = observer.applied if observer is not None else None
        Applier(clients, config.fleet, on_change=on_change).apply(plan.changes)
    return plan
