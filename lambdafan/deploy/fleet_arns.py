"""`FleetArns`: where one fleet is deployed, and the ARN of each of its resources, from which
every IAM document in `policies` is built. Pure: names in, ARNs out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.utils import parseaddr

from lambda_src import names
from lambda_src.accounts import is_account_id
from lambda_src.settings import FleetSettings, NotifySettings
from lambda_src.table import table_definition
from lambdafan.deploy.member_accounts import MemberAccounts

# Characters that would turn a name spliced into an ARN into a pattern matching other fleets.
_GLOB = re.compile(r"[*?]")


def check_kind(kind: str) -> None:
    """`kind` names one of the fleet's functions (director, worker, notifier)."""
    if kind not in names.KINDS:
        raise ValueError(f"unknown function kind {kind!r}; expected one of {names.KINDS}")


@dataclass(frozen=True)
class FleetArns:
    """Where one fleet is deployed; its ARNs, from which every policy is built, come from names."""

    partition: str  # "aws", "aws-cn", "aws-us-gov", ...: names.partition_for(region)
    account_id: str  # where the fleet is deployed
    region: str  # home region: table, functions, log groups, notify resources
    fleet: str
    member_role: str  # role name assumed in every member account
    notify: NotifySettings = field(default_factory=NotifySettings)
    members: MemberAccounts = field(default_factory=MemberAccounts)
    # The SSM parameter holding the Wavefront API token, when metrics go to Wavefront.
    wavefront_token_parameter: str | None = None
    # `results.export: s3`: the Worker writes its records to the export bucket too.
    export: bool = False

    def __post_init__(self) -> None:
        # A `*` or `?` in a name would widen every ARN built from it to other fleets' resources.
        for label, value in (
            ("partition", self.partition),
            ("region", self.region),
            ("fleet", self.fleet),
            ("member role", self.member_role),
        ):
            if not value or _GLOB.search(value):
                raise ValueError(f"{label} {value!r} must be non-empty and contain no * or ?")
        if not is_account_id(self.account_id):
            raise ValueError(f"account id {self.account_id!r} must be 12 digits")

    @classmethod
    def from_settings(
        cls, settings: FleetSettings, account_id: str, organization_id: str | None = None
    ) -> FleetArns:
        """The ARNs of the fleet `settings` describes, deployed in `account_id`, in the
        settings' partition (that of the home region). `organization_id`: the organization
        the accounts are discovered in, needed for the Worker's policy when discovery is on."""
        return cls(
            partition=settings.partition,
            account_id=account_id,
            region=settings.home_region,
            fleet=settings.fleet,
            member_role=settings.member_role,
            notify=settings.notify,
            members=MemberAccounts.from_settings(settings, organization_id),
            wavefront_token_parameter=(
                settings.wavefront.token_parameter if settings.wavefront else None
            ),
            export=settings.export == "s3",
        )

    @property
    def table_arn(self) -> str:
        table = names.table_name(self.fleet)
        return names.table_arn(self.partition, self.region, self.account_id, table)

    @property
    def table_index_arns(self) -> list[str]:
        """One ARN per index the table is created with: named, not `index/*`."""
        definition = table_definition(names.table_name(self.fleet))
        return sorted(
            names.table_index_arn(self.table_arn, index["IndexName"])
            for index in definition.get("GlobalSecondaryIndexes", [])
        )

    @property
    def export_bucket(self) -> str:
        """The bucket the fleet's records are exported to (in its account and home region)."""
        return names.export_bucket_name(self.fleet, self.account_id, self.region)

    @property
    def export_objects_arn(self) -> str:
        """Every exported object of this fleet: its prefix in the export bucket."""
        prefix = names.export_prefix(self.fleet)
        return names.s3_objects_arn(self.partition, self.export_bucket, prefix)

    def function_arn(self, kind: str) -> str:
        check_kind(kind)
        function = names.function_name(self.fleet, kind)
        return names.function_arn(self.partition, self.region, self.account_id, function)

    @property
    def director_function_arn(self) -> str:
        return self.function_arn("director")

    @property
    def worker_function_arn(self) -> str:
        return self.function_arn("worker")

    @property
    def notifier_function_arn(self) -> str:
        return self.function_arn("notifier")

    @property
    def dlq_arn(self) -> str:
        """The Notifier's dead-letter queue (its on-failure destination)."""
        queue = names.dlq_name(self.fleet)
        return names.queue_arn(self.partition, self.region, self.account_id, queue)

    def log_group_arn(self, kind: str) -> str:
        """The function's own log group (without the `:*` stream suffix)."""
        check_kind(kind)
        group = names.log_group_name(self.fleet, kind)
        return names.log_group_arn(self.partition, self.region, self.account_id, group)

    def role_arn(self, kind: str) -> str:
        """The execution role of the fleet's `kind` function."""
        check_kind(kind)
        return names.role_arn(self.partition, self.account_id, names.role_name(self.fleet, kind))

    @property
    def member_role_arn_pattern(self) -> str:
        """The member role in any account: only ever granted under a condition naming the
        organization or the accounts."""
        return names.role_arn(self.partition, "*", self.member_role)

    def member_role_arn(self, account_id: str) -> str:
        """The member role in one account."""
        return names.role_arn(self.partition, account_id, self.member_role)

    def ssm_parameter_arn(self, name: str) -> str:
        """ARN of a parameter given by name (`/a/b` or `a`) or already as an ARN."""
        return names.ssm_parameter_arn(self.partition, self.region, self.account_id, name)

    def ses_identity_arns(self, sender: str) -> list[str]:
        """The sender's address identity and its domain identity: SES authorizes a send against
        whichever of the two is verified, so both are granted."""
        address = parseaddr(sender)[1] or sender
        identities = {address}
        if "@" in address:
            identities.add(address.rsplit("@", 1)[1])
        return sorted(
            names.ses_identity_arn(self.partition, self.region, self.account_id, identity)
            for identity in identities
        )
