"""Every EC2 instance in the region: id, type, state, launch time, addresses, VPC, Name and tags.

The inventory everyone ends up writing first: "what is running where, and who owns it?". Keep it
to answer cost questions, to find forgotten instances in regions nobody uses, and to spot
instances without a Name or owner tag.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

SCOPE = "region"
# One record per instance: a new state or address of the same instance is a change.
KEY = ("instance_id",)


def collect(session: Any, region: str, account: Any) -> Iterator[dict[str, Any]]:
    ec2 = session.client("ec2", region_name=region)
    for page in ec2.get_paginator("describe_instances").paginate():
        for reservation in page.get("Reservations", []):
            for inst in reservation.get("Instances", []):
                tags = {t["Key"]: t.get("Value", "") for t in inst.get("Tags", [])}
                yield {
                    "instance_id": inst["InstanceId"],
                    "type": inst.get("InstanceType"),
                    "state": inst.get("State", {}).get("Name"),
                    "launch_time": inst.get("LaunchTime"),
                    "private_ip": inst.get("PrivateIpAddress"),
                    "public_ip": inst.get("PublicIpAddress"),
                    "vpc_id": inst.get("VpcId"),
                    "name": tags.get("Name"),
                    "tags": tags,
                }
