"""Checks of what a command is asked to do, made before anything runs or touches AWS."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lambda_src.accounts import is_account_id
from lambda_src.settings import FleetSettings
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
        fleet_accounts = {a.id for a in settings.accounts} - set(settings.exclude_accounts)
        strangers = sorted(set(accounts) - fleet_accounts)
        if strangers:
            raise UsageError(f"account {', '.join(strangers)} is not in this fleet")
    if output is not None:
        try:
            output.open("a", encoding="utf-8").close()
        except OSError as exc:
            raise UsageError(f"--output: cannot write {output}: {exc.strerror}") from None
