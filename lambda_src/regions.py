"""The regions a Worker covers in one account."""

from __future__ import annotations

from typing import Any

ENABLED = frozenset({"opt-in-not-required", "opted-in"})


def enabled_regions(ec2: Any) -> list[str]:
    """Regions enabled in the account of `ec2`, sorted; never not-opted-in ones.

    Filtered here as well as by the API: some endpoints (moto among them) return every region,
    other partitions included, whatever the request asks.
    """
    response = ec2.describe_regions(AllRegions=False)
    partition_prefix = _partition_prefix(ec2.meta.region_name)
    return sorted(
        r["RegionName"]
        for r in response["Regions"]
        if r.get("OptInStatus", "opt-in-not-required") in ENABLED
        and _partition_prefix(r["RegionName"]) == partition_prefix
    )


_PARTITION_PREFIXES = ("cn-", "us-gov-", "us-isob-", "us-iso-", "eu-isoe-")


def _partition_prefix(region: str) -> str:
    """The region-name prefix of a non-commercial partition, or "" for the commercial one."""
    return next((p for p in _PARTITION_PREFIXES if region.startswith(p)), "")
