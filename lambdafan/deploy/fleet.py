"""Deploy as the CLI runs it: identify the account, model the fleet, plan, apply."""

from __future__ import annotations

from dataclasses import dataclass

from lambdafan.config import Config
from lambdafan.deploy.clients import DeployClients
from lambdafan.deploy.model import FleetModel, fleet_model
from lambdafan.deploy.plan import Change, plan_fleet
from lambdafan.deploy.policies import FleetArns
from lambdafan.deploy.state import read_fleet_state


@dataclass(frozen=True)
class Identity:
    account_id: str
    partition: str


def caller_identity(clients: DeployClients) -> Identity:
    """The account (and partition) the user's credentials deploy into."""
    arn = clients.sts.get_caller_identity()["Arn"]
    _, partition, _, _, account_id, _ = arn.split(":", 5)
    return Identity(account_id=account_id, partition=partition)


def fleet_arns(config: Config, identity: Identity) -> FleetArns:
    return FleetArns.from_settings(config.to_settings(), identity.account_id, identity.partition)


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


def plan_deploy(config: Config, clients: DeployClients) -> Plan:
    """Read AWS and compare: the plan a deploy (or a dry run) shows. Read-only."""
    model = fleet_model(config, fleet_arns(config, caller_identity(clients)))
    return Plan(model, plan_fleet(model, read_fleet_state(model, clients)))
