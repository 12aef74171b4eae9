"""Security group ingress rules open to the whole internet (0.0.0.0/0 or ::/0).

One record per open rule and address range, with the protocol and port range. Keep it to find
SSH, RDP or database ports reachable from anywhere; a port range of None means all ports
(protocol "-1").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

SCOPE = "region"
# One record per open rule: a group can have several.
KEY = ("group_id", "protocol", "from_port", "to_port", "cidr")

WORLD_V4 = "0.0.0.0/0"
WORLD_V6 = "::/0"


def collect(session: Any, region: str, account: Any) -> Iterator[dict[str, Any]]:
    ec2 = session.client("ec2", region_name=region)
    for page in ec2.get_paginator("describe_security_groups").paginate():
        for group in page.get("SecurityGroups", []):
            for perm in group.get("IpPermissions", []):
                cidrs = [r.get("CidrIp") for r in perm.get("IpRanges", [])]
                cidrs += [r.get("CidrIpv6") for r in perm.get("Ipv6Ranges", [])]
                for cidr in cidrs:
                    if cidr not in (WORLD_V4, WORLD_V6):
                        continue
                    protocol = perm.get("IpProtocol")
                    yield {
                        "group_id": group["GroupId"],
                        "group_name": group.get("GroupName"),
                        "vpc_id": group.get("VpcId"),
                        "protocol": "all" if protocol == "-1" else protocol,
                        "from_port": perm.get("FromPort"),
                        "to_port": perm.get("ToPort"),
                        "cidr": cidr,
                    }
