"""Which accounts a run covers: the config's list and/or AWS Organizations discovery."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from lambda_src.scripts import Account
from lambda_src.settings import FleetSettings

_ACCOUNT_ID = re.compile(r"\d{12}")


def is_account_id(value: str) -> bool:
    """An AWS account id is exactly 12 ASCII digits, leading zeros included."""
    return _ACCOUNT_ID.fullmatch(value) is not None and value.isascii()


def resolve_accounts(
    settings: FleetSettings, organizations: Any | None, only: Iterable[str] | None = None
) -> list[Account]:
    """Accounts of the fleet in a stable order: discovered ones, then explicit ones, minus
    exclusions, restricted to `only` when an ad-hoc run names accounts."""
    found: dict[str, Account] = {}
    if settings.organization:
        if organizations is None:
            raise ValueError("organization discovery needs an Organizations client")
        for account in discover_accounts(organizations, settings.organization_ous):
            found[account.id] = account
    for ref in settings.accounts:
        found[ref.id] = Account(id=ref.id, name=ref.name)
    excluded = set(settings.exclude_accounts)
    wanted = None if only is None else set(only)
    return [
        a
        for a in sorted(found.values(), key=lambda a: a.id)
        if a.id not in excluded and (wanted is None or a.id in wanted)
    ]


def discover_accounts(organizations: Any, ous: Iterable[str] = ()) -> Iterator[Account]:
    """ACTIVE accounts of the organization, or of the given OUs and every OU below them."""
    parents = list(ous)
    if not parents:
        yield from _active(_paginate(organizations, "list_accounts"))
        return
    seen: set[str] = set()
    while parents:
        parent = parents.pop()
        for account in _active(
            _paginate(organizations, "list_accounts_for_parent", ParentId=parent)
        ):
            if account.id not in seen:
                seen.add(account.id)
                yield account
        parents.extend(
            ou["Id"]
            for ou in _paginate(
                organizations,
                "list_organizational_units_for_parent",
                ParentId=parent,
                result_key="OrganizationalUnits",
            )
        )


def _paginate(
    client: Any, operation: str, result_key: str = "Accounts", **params: Any
) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(result_key, [])


def _active(accounts: Iterable[dict[str, Any]]) -> Iterator[Account]:
    for raw in accounts:
        # `State` replaces the deprecated `Status`; accept whichever the API returns.
        state = raw.get("State") or raw.get("Status")
        if state == "ACTIVE":
            yield Account(id=raw["Id"], name=raw.get("Name") or raw["Id"])
