"""The regions a Worker covers in one account."""

from __future__ import annotations

from typing import Any

from lambda_src.names import partition_for

ENABLED = frozenset({"opt-in-not-required", "opted-in"})


def enabled_regions(ec2: Any) -> list[str]:
    """Regions enabled in the account of `ec2`, sorted; never not-opted-in ones.

    Filtered here as well as by the API: some endpoints (moto among them) return every region,
    other partitions included, whatever the request asks.
    """
    response = ec2.describe_regions(AllRegions=False)
    partition = partition_for(ec2.meta.region_name)
    return sorted(
        r["RegionName"]
        for r in response["Regions"]
        if r.get("OptInStatus", "opt-in-not-required") in ENABLED
        and partition_for(r["RegionName"]) == partition
    )
