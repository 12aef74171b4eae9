"""Whose member role the fleet's Worker may assume, as its IAM policy says: each listed account
by ARN, and, with organization discovery, any account of the fleet's organization (an
`aws:ResourceOrgID` condition); excluded accounts are denied outright."""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambda_src.accounts import is_account_id
from lambda_src.settings import FleetSettings

# Up to this many accounts (listed and excluded together), the Worker's policy names each
# account's member role by ARN (up to ~105 characters each); beyond it, `aws:ResourceAccount`
# conditions list the ids (15 each), so a long list still fits IAM's 10,240 characters for a
# role's inline policies.
MAX_MEMBER_ROLE_ARNS = 50
# Beyond this many, not even the condition fits: discover the accounts through the organization.
MAX_MEMBER_ACCOUNTS = 400

_ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")


class MemberAccountsError(ValueError):
    """The fleet's member accounts cannot be put in the Worker's policy (the message says why)."""


@dataclass(frozen=True)
class MemberAccounts:
    """Whose member role the Worker may assume: the fleet's accounts, never an excluded one."""

    listed: tuple[str, ...] = ()  # named in the config: may be outside the organization
    organization: bool = False  # organization discovery is on...
    organization_id: str | None = None  # ...in this organization (found by deploy)
    excluded: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for account in (*self.listed, *self.excluded):
            if not is_account_id(account):
                raise ValueError(f"account id {account!r} must be 12 digits")
        if self.organization_id is not None and not _ORGANIZATION_ID.match(self.organization_id):
            raise ValueError(f"organization id {self.organization_id!r} is not like o-a1b2c3d4e5")

    @classmethod
    def from_settings(
        cls, settings: FleetSettings, organization_id: str | None = None
    ) -> MemberAccounts:
        """The settings' accounts; `organization_id` counts only with organization discovery."""
        return cls(
            listed=tuple(sorted({account.id for account in settings.accounts})),
            organization=settings.organization,
            organization_id=organization_id if settings.organization else None,
            excluded=tuple(sorted(set(settings.exclude_accounts))),
        )

    @property
    def allowed(self) -> tuple[str, ...]:
        """The listed accounts, less the excluded ones."""
        excluded = set(self.excluded)
        return tuple(a for a in self.listed if a not in excluded)
