"""Checks of what a command is asked to do, made before anything runs or is written: from the
config alone, and (for accounts an organization holds) with a cheap Organizations read each."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lambda_src.accounts import is_account_id
from lambda_src.settings import FleetSettings
from lambdafan.aws import error_code
from lambdafan.errors import UsageError


def check_account_id(account: str, option: str = "--account") -> str:
    """An AWS account id is exactly 12 digits (leading zeros included)."""
    if not is_account_id(account):
        raise UsageError(f"{option}: {account!r} is not a 12-digit account id")
    return account


def check_run_request(
    settings: FleetSettings,
    *,
    now: bool,
    local: bool,
    accounts: Sequence[str] = (),
    scripts: Sequence[str] = (),
    output: Path | None = None,
) -> None:
    """Refuse, as a usage error, a run that cannot do what was asked."""
    if not now and not local:
        raise UsageError("say where to run: --now (the deployed fleet) or --local (here)")
    unknown = sorted(set(scripts) - {s.name for s in settings.scripts})
    if unknown:
        known = ", ".join(s.name for s in settings.scripts)
        raise UsageError(f"unknown script {', '.join(unknown)} (this fleet has: {known})")
    for account_id in accounts:
        check_account_id(account_id)
    if not settings.organization:
        # Without Organizations the fleet's accounts are known here: refuse unknown ones before
        # anything runs (with it, the Director reports them).
        _refuse(sorted(set(accounts) - _listed(settings)))
    if output is not None:
        try:
            output.open("a", encoding="utf-8").close()
        except OSError as exc:
            raise UsageError(f"--output: cannot write {output}: {exc.strerror}") from None


def check_organization_accounts(
    settings: FleetSettings, accounts: Sequence[str], organizations: Any
) -> None:
    """Refuse named accounts that the fleet's organization discovery would not find: not in the
    organization, not ACTIVE, outside `organization.ous`, or excluded. One DescribeAccount per
    account (plus one ListParents per level with OUs), where listing the organization would
    cost a call per 20 accounts; accounts the config lists need no call."""
    if not settings.organization:
        return
    listed = _listed(settings)
    excluded = set(settings.exclude_accounts)
    strangers = [
        account
        for account in sorted(set(accounts) - listed)
        if account in excluded or not _discoverable(organizations, account, settings)
    ]
    _refuse(strangers)


def _discoverable(organizations: Any, account: str, settings: FleetSettings) -> bool:
    """Whether `discover_accounts` would find the account (lambda_src.accounts)."""
    try:
        found = organizations.describe_account(AccountId=account)["Account"]
    except ClientError as exc:
        if error_code(exc) == "AccountNotFoundException":
            return False
        raise
    if (found.get("State") or found.get("Status")) != "ACTIVE":
        return False
    wanted = set(settings.organization_ous)
    if not wanted:
        return True
    child = account
    while True:  # up from the account: is one of its ancestors an OU of the fleet?
        parents = organizations.list_parents(ChildId=child)["Parents"]
        if not parents:
            return False
        parent = parents[0]
        if parent["Id"] in wanted:
            return True
        if parent["Type"] == "ROOT":
            return False
        child = parent["Id"]


def _listed(settings: FleetSettings) -> set[str]:
    """The accounts the config lists, minus its exclusions."""
    return {a.id for a in settings.accounts} - set(settings.exclude_accounts)


def _refuse(strangers: Sequence[str]) -> None:
    if strangers:
        raise UsageError(f"account {', '.join(strangers)} is not in this fleet")
